import { join } from "node:path";
import type { HeapFigures } from "./heap-probe.js";
import type { BenchProcess } from "./processes.js";

/** V8 flags that load bench/heap-probe.ts into a process, for heapFigures(). */
export const HEAP_PROBE_FLAGS: readonly string[] = ["--import", join(import.meta.dirname, "heap-probe.ts")];

/**
 * The signal heap-probe.ts answers. Not SIGUSR2, which gc-probe.ts answers in the same process;
 * SIGWINCH is ignored by a process without the probe instead of ending it.
 */
export const HEAP_PROBE_SIGNAL = "SIGWINCH";

const seen = new WeakSet<object>();

/** What bench/heap-probe.ts reports for `process_` now (after a full GC). */
export async function heapFigures(process_: BenchProcess): Promise<HeapFigures> {
  process_.child.kill(HEAP_PROBE_SIGNAL);
  const line = await process_.waitForLine((l) => l.heapProbe !== undefined && !seen.has(l), 10_000);
  seen.add(line);
  return line.heapProbe as HeapFigures;
}
