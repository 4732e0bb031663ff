import type { Worker } from "node:cluster";
import { AggregatorRegistry, Registry, type PrometheusContentType } from "prom-client";
import type { MetricsSource } from "../../lib/metrics-listener.js";
import {
  isMetricsMessage,
  isMetricsRequestMessage,
  type MetricsMessage,
  type MetricsRequestMessage,
} from "./worker-messages.js";

/**
 * Metrics of `hopgate server --workers N`. A scrape of a port the workers share would reach one
 * random worker, so the workers open no metrics listener: the primary serves `/metrics`, asks
 * every listening worker for its registry over the cluster IPC channel and sums them
 * (prom-client's `AggregatorRegistry.aggregate`: counters, gauges and histograms summed), then
 * adds its own registry (series of names no worker has).
 */

/** How long the primary waits for a listening worker's metrics before the scrape fails. */
const ANSWER_TIMEOUT_MS = 5_000;

/** In a worker: answer the primary's metrics requests with `registry`. */
export function shareMetricsWithPrimary(registry: Registry): void {
  process.on("message", (message: unknown) => {
    if (!isMetricsRequestMessage(message)) return;
    const reply = (answer: Omit<MetricsMessage, "type" | "id">) => {
      if (process.connected) process.send?.({ type: "hopgate:metrics", id: message.id, ...answer });
    };
    registry.getMetricsAsJSON().then(
      (metrics) => reply({ metrics }),
      (error: unknown) => reply({ error: error instanceof Error ? error.message : String(error) }),
    );
  });
}

export interface WorkerMetricsOptions {
  /**
   * The workers to ask: those listening. A worker shares its registry only once it listens, so
   * asking one that is starting (or hangs while starting) would stall every scrape.
   */
  readonly listeningWorkers: () => readonly Worker[];
  /** The primary's own series. */
  readonly primaryRegistry: Registry;
}

/**
 * In the primary: the listening workers' metrics summed, plus the primary's own. Rejects when a
 * listening worker does not answer within 5 s or answers an error; a worker that exits before it
 * answers adds nothing.
 */
export function aggregatedWorkerMetrics(options: WorkerMetricsOptions): MetricsSource {
  let nextId = 0;
  return {
    contentType: options.primaryRegistry.contentType,
    metrics: async () => {
      const answers = await Promise.all(options.listeningWorkers().map((w) => askWorker(w, nextId++)));
      const summed = AggregatorRegistry.aggregate<PrometheusContentType>(answers);
      return Registry.merge([summed, options.primaryRegistry]).metrics();
    },
  };
}

function askWorker(worker: Worker, id: number): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const finish = (error: Error | undefined, metrics: unknown[] = []) => {
      clearTimeout(timer);
      worker.off("message", onMessage);
      worker.off("exit", onExit);
      if (error) reject(error);
      else resolve(metrics);
    };
    const timer = setTimeout(
      () =>
        finish(new Error(`worker pid ${worker.process.pid} sent no metrics within ${ANSWER_TIMEOUT_MS} ms`)),
      ANSWER_TIMEOUT_MS,
    );
    const onMessage = (message: unknown) => {
      if (!isMetricsMessage(message) || message.id !== id) return;
      if (message.error !== undefined)
        finish(new Error(`worker pid ${worker.process.pid} failed to collect its metrics: ${message.error}`));
      else finish(undefined, message.metrics);
    };
    const onExit = () => finish(undefined);
    worker.on("message", onMessage);
    worker.once("exit", onExit);
    const request: MetricsRequestMessage = { type: "hopgate:metrics-request", id };
    // A worker that just died cannot be written to (its "error" event is logged); its exit ends the wait.
    worker.send(request);
  });
}
