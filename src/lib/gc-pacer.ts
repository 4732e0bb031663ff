/** Counts the body bytes a tunnel moves and runs a young-generation GC every `everyBytes`. */
export interface GcPacer {
  moved(bytes: number): void;
}

/** How much tunnel traffic may pass between two paced GCs. */
const GC_PACE_BYTES = 8 * 1024 * 1024;

type Collect = (options: { type: "minor" }) => void;

/**
 * V8 frees a dead ArrayBuffer at the next GC, but a tunnel's few JS objects per MiB moved fill
 * the young generation so slowly that tens of MB of dead socket buffers piled up between GCs
 * (docs/performance.md). With `--expose-gc` (HOPGATE_NODE_FLAGS), a scavenge every 8 MiB bounds
 * that; it costs about a millisecond. Without the flag (a custom launch), pacing is off.
 */
export function createGcPacer(
  collect: Collect | null = (globalThis as { gc?: Collect }).gc ?? null,
  everyBytes = GC_PACE_BYTES,
): GcPacer {
  if (!collect) return { moved: () => undefined };
  let pending = 0;
  return {
    moved(bytes) {
      pending += bytes;
      if (pending < everyBytes) return;
      pending = 0;
      collect({ type: "minor" });
    },
  };
}
