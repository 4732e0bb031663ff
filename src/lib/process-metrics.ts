import { collectDefaultMetrics, Counter, type Registry } from "prom-client";
import { stdoutDroppedLines } from "./stdout-sink.js";

/**
 * prom-client's gauges that end in `_total`, which Prometheus reserves for counters (`promtool
 * check metrics` rejects them). Each is the sum of a gauge that stays, e.g.
 * `sum(nodejs_active_handles)` for `nodejs_active_handles_total`.
 */
const MISNAMED_DEFAULT_GAUGES = [
  "nodejs_active_handles_total",
  "nodejs_active_requests_total",
  "nodejs_active_resources_total",
];

/**
 * Node's process metrics (CPU, memory, event loop lag, GC, handles, fds) on `registry`, and
 * `hopgate_log_lines_dropped_total`: stdout is one per process, so is its count of dropped lines.
 */
export function registerProcessMetrics(registry: Registry): void {
  collectDefaultMetrics({ register: registry });
  for (const name of MISNAMED_DEFAULT_GAUGES) registry.removeSingleMetric(name);
  new Counter({
    name: "hopgate_log_lines_dropped_total",
    help: "Log lines not written to stdout because its reader fell more than 1 MiB behind (or closed it)",
    registers: [registry],
    collect() {
      this.reset();
      this.inc(stdoutDroppedLines());
    },
  });
}
