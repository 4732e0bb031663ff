type Collect = (options: { type: "major"; execution: "sync"; flavor: "last-resort" }) => void;

/**
 * One memory-reducing full GC, for a process that has just finished starting. Loading and
 * compiling its modules leaves a server with ~30 MB of V8 heap for ~20 MB of live objects, and
 * V8 returns the difference only after a GC, which an idle process never runs: its resident
 * memory stayed ~9 MiB above what it needs (docs/performance.md, change 7). V8's last-resort
 * collection compacts the old generation, shrinks the young one and unmaps the freed pages; it
 * blocks once, for 30-200 ms depending on the machine's load. It needs `--expose-gc`
 * (HOPGATE_NODE_FLAGS); without it (a custom launch, the tests' own process) nothing happens.
 * Returns whether it ran.
 */
export function compactHeap(collect: Collect | null = (globalThis as { gc?: Collect }).gc ?? null): boolean {
  if (!collect) return false;
  collect({ type: "major", execution: "sync", flavor: "last-resort" });
  return true;
}
