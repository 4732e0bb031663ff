import { AggregatorRegistry, type Registry } from "prom-client";
import type { MetricsSource } from "../../lib/metrics-listener.js";

/**
 * Metrics of `hopgate server --workers N`. A scrape of a port the workers share would reach one
 * random worker, so the workers open no metrics listener: the primary serves `/metrics` and
 * asks every worker for its registry over the cluster IPC channel (prom-client's
 * AggregatorRegistry). Counters, gauges and histograms are summed across workers.
 */

/** In a worker: answer the primary's metrics requests with `registry`. */
export function shareMetricsWithPrimary(registry: Registry): void {
  AggregatorRegistry.setRegistries([registry]);
  // Constructing one installs the worker's listener for the primary's requests (idempotent).
  new AggregatorRegistry();
}

/** In the primary: every live worker's metrics, summed (rejects when a worker does not answer in 5 s). */
export function aggregatedWorkerMetrics(): MetricsSource {
  const aggregator = new AggregatorRegistry();
  return {
    contentType: aggregator.contentType,
    metrics: () => aggregator.clusterMetrics(),
  };
}
