// Loaded with `--import` into the server and the client by the bench's `gc` figure (Node runs it
// with its built-in type stripping: erasable syntax only). Counts V8's GCs by kind and the bytes
// the process allocated and promoted, figures that do not depend on the machine's load. On
// SIGUSR2 it prints one JSON line on stdout, `{"gcProbe": GcCounters}`, cumulative since start.
import { GCProfiler, getHeapStatistics } from "node:v8";

/** Cumulative since the probe started. */
export interface GcCounters {
  /** Scavenges (young generation). */
  readonly minor: number;
  /** Mark-compacts (old generation), including those finished from incremental marking. */
  readonly major: number;
  /** Bytes of V8 heap allocated: growth of the used heap between GCs, summed. */
  readonly allocatedBytes: number;
  /** Bytes that scavenges moved out of the young generation into the old one. */
  readonly promotedBytes: number;
  /** Summed GC pause, ms. */
  readonly pauseMs: number;
}

interface SpaceStats {
  readonly spaceName: string;
  readonly spaceUsedSize: number;
}
interface HeapSnapshotStats {
  readonly heapStatistics: { readonly usedHeapSize: number };
  readonly heapSpaceStatistics: readonly SpaceStats[];
}
interface GcRecord {
  readonly gcType: string;
  readonly cost: number;
  readonly beforeGC: HeapSnapshotStats;
  readonly afterGC: HeapSnapshotStats;
}

const YOUNG = new Set(["new_space", "new_large_object_space"]);
const oldUsed = (stats: HeapSnapshotStats) =>
  stats.heapSpaceStatistics.reduce((sum, s) => (YOUNG.has(s.spaceName) ? sum : sum + s.spaceUsedSize), 0);

const counters = { minor: 0, major: 0, allocatedBytes: 0, promotedBytes: 0, pauseMs: 0 };
let usedAfterLastGc: number | undefined;
let profiler = new GCProfiler();
profiler.start();

function fold(records: readonly GcRecord[]): void {
  for (const record of records) {
    const before = record.beforeGC.heapStatistics.usedHeapSize;
    if (usedAfterLastGc !== undefined) counters.allocatedBytes += Math.max(0, before - usedAfterLastGc);
    usedAfterLastGc = record.afterGC.heapStatistics.usedHeapSize;
    counters.pauseMs += record.cost / 1000;
    if (record.gcType === "Scavenge" || record.gcType === "MinorMarkSweep") {
      counters.minor++;
      counters.promotedBytes += Math.max(0, oldUsed(record.afterGC) - oldUsed(record.beforeGC));
    } else if (record.gcType === "MarkSweepCompact") {
      counters.major++;
    }
  }
}

process.on("SIGUSR2", () => {
  const result = profiler.stop() as { statistics: GcRecord[] } | undefined;
  profiler = new GCProfiler();
  profiler.start();
  fold(result?.statistics ?? []);
  // What was allocated since the last GC counts too, so that two snapshots differ exactly.
  const sinceLastGc = Math.max(0, getHeapStatistics().used_heap_size - (usedAfterLastGc ?? 0));
  const snapshot: GcCounters = { ...counters, allocatedBytes: counters.allocatedBytes + sinceLastGc };
  process.stdout.write(`${JSON.stringify({ gcProbe: snapshot })}\n`);
});
