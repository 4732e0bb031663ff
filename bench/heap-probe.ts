// Loaded with `--import` into server and client by the bench's `domains` case (Node runs it with
// its built-in type stripping: erasable syntax only). On SIGUSR2 it runs a full GC (the product's
// flags include --expose-gc) and prints one JSON line on stdout, `{"heapProbe": HeapFigures}`:
// what is live then, a steadier figure than RSS for small differences.
import { getHeapStatistics } from "node:v8";

export interface HeapFigures {
  /** V8 heap in use after the full GC. */
  readonly usedHeapBytes: number;
  /** Memory outside the V8 heap that V8 knows of (Buffers, ArrayBuffers, TLS and HTTP/2 objects). */
  readonly externalBytes: number;
  readonly rssBytes: number;
}

process.on("SIGUSR2", () => {
  (globalThis as { gc?: () => void }).gc?.();
  const memory = process.memoryUsage();
  const figures: HeapFigures = {
    usedHeapBytes: getHeapStatistics().used_heap_size,
    externalBytes: memory.external,
    rssBytes: memory.rss,
  };
  process.stdout.write(`${JSON.stringify({ heapProbe: figures })}\n`);
});
