import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { heapFigures } from "./heap-figure.js";
import { generator } from "./measure.js";
import { startProcess, withPeakRss, type BenchProcess } from "./processes.js";
import { TENANT, type Stack } from "./stack.js";

const KiB = 1024;

/** Server RSS before and with `count` idle v2 tunnels (bench/idle-tunnels.ts), per tunnel. */
export async function measureIdleTunnels(
  stack: Pick<Stack, "server" | "httpsPort" | "clientKey">,
  count: number,
) {
  const { perConnectionKiB, ...held } = await measureHeldConnections(stack.server, "idle-tunnels", {
    url: `https://127.0.0.1:${stack.httpsPort}`,
    domain: TENANT,
    apiKey: stack.clientKey,
    count,
  });
  return { ...held, perTunnelKiB: perConnectionKiB };
}

/**
 * Server RSS before and with the idle connections that bench/`holder`.ts opens to `server` (in its
 * own process, with `options`; it prints `{"accepted": N, "failed": M}` once every one of
 * `options.count` has answered, then holds them until killed), per connection: 1 s of quiet before,
 * 3 s after.
 */
export async function measureHeldConnections(
  server: BenchProcess,
  holder: string,
  options: Readonly<Record<string, unknown>> & { readonly count: number },
) {
  await sleep(1000);
  const beforeBytes = server.rssBytes();
  const connections = startProcess(holder, process.execPath, [
    "--import",
    "tsx",
    join(import.meta.dirname, `${holder}.ts`),
    JSON.stringify(options),
  ]);
  const answer = await connections.waitForLine((l) => typeof l.accepted === "number", 180_000);
  await sleep(3000);
  const withBytes = server.rssBytes();
  await connections.stop();
  return {
    count: options.count,
    accepted: answer.accepted as number,
    failed: answer.failed as number,
    serverBeforeBytes: beforeBytes,
    serverWithBytes: withBytes,
    perConnectionKiB: (withBytes - beforeBytes) / options.count / KiB,
  };
}

/**
 * `count` long polls (each answered by the backend after 10 s) sent at once through the one
 * tunnel, from HTTP/2 visitors, twice: errors, and the memory each in-flight stream costs server
 * and client, divided by the most polls the backend held at once (`peakInFlight`).
 * - First pass, as before 2026-12-07: peak RSS over the whole exchange less the RSS before.
 *   Garbage and allocator slack count, and it depends on what the allocator kept from earlier load
 *   (glibc keeps more, and then needs less). Also the RSS once every poll is in flight.
 * - Second pass: live, V8 heap in use plus external memory after a full GC, taken once every poll
 *   is in flight, less the same before (the stack's processes load bench/heap-probe.mjs): what
 *   HopGate holds per stream.
 */
export async function measureLongPolls(stack: Stack, count: number) {
  await sleep(3000); // the idle tunnels' connections are gone
  const processes = [stack.server, stack.client];
  const before = processes.map((p) => p.rssBytes());
  let inFlightBytes: number[] | undefined;
  const { result: first, peakBytes } = await withPeakRss(processes, () =>
    pollsInFlight(stack, count, () => {
      inFlightBytes = processes.map((p) => p.rssBytes());
    }),
  );
  await sleep(3000);
  const liveBefore = await Promise.all(processes.map(liveBytes));
  let liveWith: number[] | undefined;
  const second = await pollsInFlight(stack, count, async () => {
    liveWith = await Promise.all(processes.map(liveBytes));
  });
  const perStream = (peakInFlight: number, bytes: number) => bytes / Math.max(1, peakInFlight) / KiB;
  const growth = (figures: number[] | undefined, from: number[], i: number) =>
    figures === undefined ? undefined : perStream(first.peakInFlight, (figures[i] ?? 0) - (from[i] ?? 0));
  return {
    count,
    ok: first.result.ok,
    errors: first.result.errors,
    elapsedMs: first.result.elapsedMs,
    peakInFlight: first.peakInFlight,
    serverBeforeBytes: before[0],
    serverPeakBytes: peakBytes[0],
    clientBeforeBytes: before[1],
    clientPeakBytes: peakBytes[1],
    serverPerStreamKiB: growth(peakBytes, before, 0) ?? 0,
    clientPerStreamKiB: growth(peakBytes, before, 1) ?? 0,
    /** Undefined (also the live ones) when the polls were never all in flight at once. */
    serverInFlightPerStreamKiB: growth(inFlightBytes, before, 0),
    clientInFlightPerStreamKiB: growth(inFlightBytes, before, 1),
    live: {
      ok: second.result.ok,
      errors: second.result.errors,
      peakInFlight: second.peakInFlight,
      serverPerStreamKiB:
        liveWith && perStream(second.peakInFlight, (liveWith[0] ?? 0) - (liveBefore[0] ?? 0)),
      clientPerStreamKiB:
        liveWith && perStream(second.peakInFlight, (liveWith[1] ?? 0) - (liveBefore[1] ?? 0)),
    },
  };
}

/**
 * Sends `count` long polls at once and, the moment every one waits at the backend (each is
 * answered 10 s after it arrived), runs `whenAllWait` once; resolves with the generator's result
 * and the most polls the backend held at once.
 */
async function pollsInFlight(stack: Stack, count: number, whenAllWait: () => void | Promise<void>) {
  await polls(stack.backendPort, true); // starts the count
  const sent = generator("poll", {
    url: `https://127.0.0.1:${stack.httpsPort}/poll?ms=10000`,
    host: TENANT,
    http2: true,
    connections: 20,
    count,
  });
  let finished = false;
  void sent.finally(() => (finished = true));
  while (!finished) {
    if ((await polls(stack.backendPort)).waiting === count) {
      await whenAllWait();
      break;
    }
    await sleep(100);
  }
  const result = await sent;
  return { result, peakInFlight: (await polls(stack.backendPort)).peak };
}

/** V8 heap in use plus external memory after a full GC (bench/heap-probe.mjs). */
async function liveBytes(process_: BenchProcess): Promise<number> {
  const figures = await heapFigures(process_);
  return figures.usedHeapBytes + figures.externalBytes;
}

/** The long polls the bench backend holds now and the most at once since the last reset (bench/backend.ts). */
async function polls(backendPort: number, reset = false): Promise<{ waiting: number; peak: number }> {
  const answer = await fetch(`http://127.0.0.1:${backendPort}/polls${reset ? "?reset" : ""}`);
  if (!answer.ok) throw new Error(`bench backend /polls: ${answer.status}`);
  return (await answer.json()) as { waiting: number; peak: number };
}
