import { Counter, Gauge, type Registry } from "prom-client";

/**
 * Why a worker of `hopgate server --workers N` exited outside a shutdown (each exit is followed
 * by a restart): `crashed` after it listened (any code or signal), `start_failed` when a
 * restarted worker exited before it listened, `start_timeout` when the primary killed a
 * restarted worker not listening by HOP_SERVER_START_TIMEOUT_SECONDS, `unresponsive` when it
 * killed a listening worker that had not answered its pings for
 * HOP_SERVER_WORKER_LIVENESS_TIMEOUT_SECONDS.
 */
export const WORKER_EXIT_REASONS = ["crashed", "start_failed", "start_timeout", "unresponsive"] as const;
export type WorkerExitReason = (typeof WORKER_EXIT_REASONS)[number];

export interface SupervisionMetricsOptions {
  readonly registry: Registry;
  /** N of `--workers N`. */
  readonly configuredWorkers: number;
  /** Workers listening now; asked at scrape time. */
  readonly listeningWorkers: () => number;
}

/** What the primary reports of its supervision; no label names a worker (bounded series). */
export interface SupervisionMetrics {
  workerExited(reason: WorkerExitReason): void;
  /** A worker was forked again in the slot of one that exited. */
  workerRestarted(): void;
}

/**
 * The primary's own series, served with the workers' sum (docs/operations.md): the workers'
 * registries cannot count their own deaths, and a dead worker's series leave the sum.
 */
export function createSupervisionMetrics(options: SupervisionMetricsOptions): SupervisionMetrics {
  const registers = [options.registry];
  const exits = new Counter({
    name: "hopgate_worker_exits_total",
    help: "Workers that exited outside a shutdown (each is restarted), by reason",
    labelNames: ["reason"] as const,
    registers,
  });
  for (const reason of WORKER_EXIT_REASONS) exits.inc({ reason }, 0);
  const restarts = new Counter({
    name: "hopgate_worker_restarts_total",
    help: "Workers forked again in the slot of one that exited",
    registers,
  });
  new Gauge({
    name: "hopgate_workers_configured",
    help: "Worker processes the primary keeps running (--workers)",
    registers,
  }).set(options.configuredWorkers);
  new Gauge({
    name: "hopgate_workers_listening",
    help: "Workers listening now",
    registers,
    collect() {
      this.set(options.listeningWorkers());
    },
  });
  return {
    workerExited: (reason) => exits.inc({ reason }),
    workerRestarted: () => restarts.inc(),
  };
}
