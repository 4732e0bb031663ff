import type { Worker } from "node:cluster";
import { AggregatorRegistry, Gauge, Registry, type PrometheusContentType } from "prom-client";
import type { Logger } from "../../lib/logger.js";
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
 * adds its own registry (series of names no worker has). A worker that hangs after it listened
 * must not blind the scrape: the primary's series matter most exactly then.
 */

/**
 * How long a scrape waits for a listening worker's metrics before it answers without them. A
 * healthy worker answers in milliseconds; one that needs seconds has an event loop too busy to
 * serve anyway. Well within Prometheus's default scrape_timeout (10 s).
 */
const ANSWER_TIMEOUT_MS = 3_000;

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
  readonly logger: Logger;
}

/** A listening worker's answer to one metrics request. */
type Answer =
  | { readonly t: "metrics"; readonly metrics: unknown[] }
  | { readonly t: "missing"; readonly reason: string }
  | { readonly t: "exited" };

/**
 * In the primary: the listening workers' metrics summed, plus the primary's own, always within
 * ANSWER_TIMEOUT_MS. A worker that does not answer in time (event loop blocked, stopped) or
 * answers an error is "missing": the sum takes its last answer instead (its counters cannot have
 * moved while its event loop did not run, so the summed counters do not drop and come back as a
 * false reset), or nothing when it never answered; `hopgate_workers_scrape_missing` counts them
 * and the primary logs each. A worker that exits before it answers adds nothing (its series
 * leave the sum: docs/operations.md).
 */
export function aggregatedWorkerMetrics(options: WorkerMetricsOptions): MetricsSource {
  const log = options.logger.child({ component: "metrics" });
  const lastAnswers = new WeakMap<Worker, unknown[]>();
  let nextId = 0;
  return {
    contentType: options.primaryRegistry.contentType,
    metrics: async () => {
      const workers = options.listeningWorkers();
      const answers = await Promise.all(workers.map((w) => askWorker(w, nextId++)));
      const summed: unknown[][] = [];
      let missing = 0;
      answers.forEach((answer, i) => {
        const worker = workers[i]!;
        if (answer.t === "metrics") {
          lastAnswers.set(worker, answer.metrics);
          summed.push(answer.metrics);
        } else if (answer.t === "missing") {
          missing += 1;
          const last = lastAnswers.get(worker);
          if (last) summed.push(last);
          log.warn(
            { pid: worker.process.pid, error: answer.reason, stale: last !== undefined },
            "a worker did not answer the metrics request; the scrape holds its last answer, if any",
          );
        }
      });
      const aggregate = AggregatorRegistry.aggregate<PrometheusContentType>(summed);
      return Registry.merge([aggregate, options.primaryRegistry, scrapeRegistry(missing)]).metrics();
    },
  };
}

/** The series of one scrape itself (docs/operations.md). */
function scrapeRegistry(missing: number): Registry {
  const registry = new Registry();
  new Gauge({
    name: "hopgate_workers_scrape_missing",
    help: "Listening workers that did not answer this scrape's metrics request in time (their last answer is summed)",
    registers: [registry],
  }).set(missing);
  return registry;
}

function askWorker(worker: Worker, id: number): Promise<Answer> {
  return new Promise((resolve) => {
    const finish = (answer: Answer) => {
      clearTimeout(timer);
      worker.off("message", onMessage);
      worker.off("exit", onExit);
      resolve(answer);
    };
    const timer = setTimeout(
      () => finish({ t: "missing", reason: `no answer within ${ANSWER_TIMEOUT_MS} ms` }),
      ANSWER_TIMEOUT_MS,
    );
    const onMessage = (message: unknown) => {
      if (!isMetricsMessage(message) || message.id !== id) return;
      if (message.error !== undefined)
        finish({ t: "missing", reason: `failed to collect its metrics: ${message.error}` });
      else finish({ t: "metrics", metrics: message.metrics ?? [] });
    };
    const onExit = () => finish({ t: "exited" });
    worker.on("message", onMessage);
    worker.once("exit", onExit);
    const request: MetricsRequestMessage = { type: "hopgate:metrics-request", id };
    // A worker that just died cannot be written to (its "error" event is logged); its exit ends the wait.
    worker.send(request);
  });
}
