import { join } from "node:path";
import type { GcCounters } from "./gc-probe.js";
import type { BenchProcess } from "./processes.js";

/** V8 flags that load bench/gc-probe.ts into a process, for gcSnapshot(). */
export const GC_PROBE_FLAGS: readonly string[] = ["--import", join(import.meta.dirname, "gc-probe.ts")];

const seen = new WeakSet<object>();

/** The cumulative GC counters of a process started with GC_PROBE_FLAGS. */
export async function gcSnapshot(process_: BenchProcess): Promise<GcCounters> {
  process_.child.kill("SIGUSR2");
  const line = await process_.waitForLine((l) => l.gcProbe !== undefined && !seen.has(l), 10_000);
  seen.add(line);
  return line.gcProbe as GcCounters;
}

/** Per-request figures of what a process's GC counters did over `requests` requests. */
export function gcPerRequest(
  before: GcCounters,
  after: GcCounters,
  requests: number,
): Record<"alloc KB/req" | "promoted B/req" | "minor GCs/10k" | "major GCs/10k" | "GC ms/10k", number> {
  const per10k = (n: number) => (n / requests) * 10_000;
  return {
    "alloc KB/req": (after.allocatedBytes - before.allocatedBytes) / requests / 1000,
    "promoted B/req": (after.promotedBytes - before.promotedBytes) / requests,
    "minor GCs/10k": per10k(after.minor - before.minor),
    "major GCs/10k": per10k(after.major - before.major),
    "GC ms/10k": per10k(after.pauseMs - before.pauseMs),
  };
}
