// Loaded with `--import` into server and client by the bench (heap-figure.ts): the `domains`
// case and the long polls' live figure. Plain JavaScript, not TypeScript: importing a .ts file
// makes Node load its type stripper, ~10 MiB that would count in the process's idle RSS. On
// SIGWINCH it runs a full GC (the product's flags include --expose-gc) and prints one JSON line on
// stdout, `{"heapProbe": HeapFigures}` (heap-figure.ts): what is live then, a steadier figure
// than RSS for small differences.
import process from "node:process";
import { getHeapSpaceStatistics, getHeapStatistics } from "node:v8";

/** V8's code and trusted spaces: machine code, bytecode and their metadata. */
const CODE_SPACES = new Set([
  "code_space",
  "code_large_object_space",
  "trusted_space",
  "trusted_large_object_space",
]);

process.on("SIGWINCH", () => {
  globalThis.gc?.();
  const memory = process.memoryUsage();
  const figures = {
    usedHeapBytes: getHeapStatistics().used_heap_size,
    externalBytes: memory.external,
    rssBytes: memory.rss,
    codeBytes: getHeapSpaceStatistics()
      .filter((space) => CODE_SPACES.has(space.space_name))
      .reduce((total, space) => total + space.space_used_size, 0),
  };
  process.stdout.write(`${JSON.stringify({ heapProbe: figures })}\n`);
});
