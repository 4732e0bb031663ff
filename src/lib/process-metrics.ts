import { collectDefaultMetrics, type Registry } from "prom-client";

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

/** Node's process metrics (CPU, memory, event loop lag, GC, handles, fds) on `registry`. */
export function registerProcessMetrics(registry: Registry): void {
  collectDefaultMetrics({ register: registry });
  for (const name of MISNAMED_DEFAULT_GAUGES) registry.removeSingleMetric(name);
}
