import { join } from "node:path";
import type { BenchProcess } from "./processes.js";

/** What bench/heap-probe.mjs reports of a process, after a full GC. */
export interface HeapFigures {
  /** V8 heap in use after the full GC. */
  readonly usedHeapBytes: number;
  /** Memory outside the V8 heap that V8 knows of (Buffers, ArrayBuffers, TLS and HTTP/2 objects). */
  readonly externalBytes: number;
  readonly rssBytes: number;
  /**
   * The part of `usedHeapBytes` in V8's code and trusted spaces: machine code, bytecode and their
   * metadata, compiled once per process as functions warm up, whatever the number of domains.
   */
  readonly codeBytes: number;
}

/** V8 flags that load bench/heap-probe.mjs into a process, for heapFigures(). */
export const HEAP_PROBE_FLAGS: readonly string[] = ["--import", join(import.meta.dirname, "heap-probe.mjs")];

/**
 * The signal heap-probe.mjs answers. Not SIGUSR2, which gc-probe.ts answers in the same process;
 * SIGWINCH is ignored by a process without the probe instead of ending it.
 */
export const HEAP_PROBE_SIGNAL = "SIGWINCH";

const seen = new WeakSet<object>();

/** What bench/heap-probe.mjs reports for `process_` now (after a full GC). */
export async function heapFigures(process_: BenchProcess): Promise<HeapFigures> {
  process_.child.kill(HEAP_PROBE_SIGNAL);
  const line = await process_.waitForLine((l) => l.heapProbe !== undefined && !seen.has(l), 10_000);
  seen.add(line);
  return line.heapProbe as HeapFigures;
}
