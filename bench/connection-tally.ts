/**
 * The bookkeeping of a script that opens `count` connections and holds them (bench/idle-tunnels.ts,
 * bench/idle-h2-streams.ts): `answer(held)` counts each connection once, whatever it reports
 * later, and once all have answered, one line `{"accepted": N, "failed": M}` goes to stdout.
 */
export function connectionTally(count: number): () => (held: boolean) => void {
  let accepted = 0;
  let failed = 0;
  return () => {
    let answered = false;
    return (held) => {
      if (answered) return;
      answered = true;
      if (held) accepted++;
      else failed++;
      if (accepted + failed === count) process.stdout.write(`${JSON.stringify({ accepted, failed })}\n`);
    };
  };
}

/** Spreads the handshakes a little, as real clients would arrive: 20 ms after every 50th. */
export async function spreadArrival(index: number): Promise<void> {
  if (index % 50 === 49) await new Promise((resolve) => setTimeout(resolve, 20));
}
