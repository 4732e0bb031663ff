// Loaded with `--import` into server and client by the bench's `domains` case (Node runs it with
// its built-in type stripping: erasable syntax only). On SIGWINCH (heap-figure.ts) it runs a full GC (the product's
// flags include --expose-gc) and prints one JSON line on stdout, `{"heapProbe": HeapFigures}`:
// what is live then, a steadier figure than RSS for small differences.
import { getHeapSpaceStatistics, getHeapStatistics } from "node:v8";

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

const CODE_SPACES = new Set([
  "code_space",
  "code_large_object_space",
  "trusted_space",
  "trusted_large_object_space",
]);

process.on("SIGWINCH", () => {
  (globalThis as { gc?: () => void }).gc?.();
  const memory = process.memoryUsage();
  const figures: HeapFigures = {
    usedHeapBytes: getHeapStatistics().used_heap_size,
    externalBytes: memory.external,
    rssBytes: memory.rss,
    codeBytes: getHeapSpaceStatistics()
      .filter((space) => CODE_SPACES.has(space.space_name))
      .reduce((total, space) => total + space.space_used_size, 0),
  };
  process.stdout.write(`${JSON.stringify({ heapProbe: figures })}\n`);
});
