import cluster, { type Worker } from "node:cluster";
import { isSea } from "node:sea";
import { Registry } from "prom-client";
import type { ServerConfig } from "../../config/server-settings.js";
import { HopGateError, isHopGateError } from "../../lib/hopgate-error.js";
import type { Logger } from "../../lib/logger.js";
import { createMetricsListener, type MetricsListener } from "../../lib/metrics-listener.js";
import { createReadinessProbe } from "../../lib/readiness.js";
import { beforeDeadline, startDeadline, stepReport, type StartDeadline } from "../start-deadline.js";
import { openDatabase } from "../store/database.js";
import { aggregatedWorkerMetrics } from "./worker-metrics.js";
import {
  isFailedMessage,
  isProgressMessage,
  isPongMessage,
  isReadyMessage,
  WORKER_INDEX_VARIABLE,
  type StopMessage,
} from "./worker-messages.js";
import { createLivenessWatchdog } from "./liveness-watchdog.js";
import { planRestart } from "./restart-backoff.js";
import { createSupervisionMetrics } from "./supervision-metrics.js";

/** After the drain time, how long the primary waits for workers to exit before SIGKILL. */
const EXIT_GRACE_MS = 5_000;

interface Slot {
  readonly index: number;
  worker: Worker | undefined;
  ready: boolean;
  startedAtMs: number;
  /** The last step of its server's start it reported done (until it is ready). */
  lastStep: string | undefined;
  /** Consecutive exits soon after starting (the restart backoff's exponent). */
  quickExits: number;
  restarts: number;
  restartTimer: NodeJS.Timeout | undefined;
  /** A restarted worker's own start deadline, from its fork until it listens or exits. */
  restartDeadline: StartDeadline | undefined;
  /** Why the primary killed its current worker, for the log and count of its exit. */
  killed: Kill | undefined;
}

/**
 * A kill by the primary: the restart deadline passed (its error) or the liveness watchdog found
 * the worker silent (for how long).
 */
type Kill =
  | { readonly reason: "start_timeout"; readonly error: string }
  | { readonly reason: "unresponsive"; readonly silentMs: number };

/**
 * The primary of `hopgate server --workers N` (node:cluster; docs/scale-out.md): applies the
 * store's migrations once, forks N workers (worker 1 first, the others once it listens) that share
 * the listening ports (the primary accepts and hands connections round-robin), restarts a worker
 * that dies after it was listening (backoff from 0.5 s doubling to 30 s; logged), kills a
 * restarted worker not listening HOP_SERVER_START_TIMEOUT_SECONDS after its fork and restarts it
 * the same way (a quick exit; logged), kills a listening worker that has not answered its pings
 * for HOP_SERVER_WORKER_LIVENESS_TIMEOUT_SECONDS (liveness-watchdog.ts) and restarts it the
 * same way (logged), serves the workers' summed metrics and its own (exits,
 * restarts, workers listening: supervision-metrics.ts) on HOP_METRICS_LISTEN,
 * and on the first SIGTERM/SIGINT asks every worker to drain and stop. A worker that fails or
 * exits before its first "ready" is not retried: a setting it rejects or a port it cannot bind
 * would fail again, so every worker is stopped and the start rejects with a HopGateError naming
 * the worker and its error ("config_invalid" when the worker's was). The store's migrations and
 * every worker's start share one deadline (HOP_SERVER_START_TIMEOUT_SECONDS): past it the workers
 * not listening are killed, the others stopped, and the start rejects with a HopGateError
 * "timeout" naming each worker not listening. Otherwise resolves with the
 * exit code: 0 when every worker stopped cleanly, 1 when a signal came during the start, or a
 * worker failed to stop or had to be killed.
 */
export async function runPrimary(config: ServerConfig, logger: Logger, count: number): Promise<number> {
  const log = logger.child({ component: "primary" });
  const drainMs = config.shutdownTimeoutSeconds * 1000;
  let stopping = false;
  let failed = false;
  let onStop: () => void = () => {};
  const stopRequested = new Promise<void>((resolve) => (onStop = resolve));
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      log.warn({ signal }, "second signal: killing the workers");
      for (const slot of slots) slot.worker?.process.kill("SIGKILL");
      process.exit(1);
    }
    stopping = true;
    onStop();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  // Migrations once, before any worker opens the store (each worker's own check is then a no-op).
  const deadline = startDeadline(config.startTimeoutSeconds);
  try {
    const store = await beforeDeadline(
      openDatabase({ dsn: config.dbDsn, dataDir: config.dataDir, logger }),
      deadline,
      () => "the store did not open (migrations), no worker was started",
      (late) => late.close(),
    );
    await store.close();
  } catch (error) {
    deadline.clear();
    throw error;
  }

  const slots: Slot[] = Array.from({ length: count }, (_, i) => ({
    index: i + 1,
    worker: undefined,
    ready: false,
    startedAtMs: 0,
    lastStep: undefined,
    quickExits: 0,
    restarts: 0,
    restartTimer: undefined,
    restartDeadline: undefined,
    killed: undefined,
  }));
  const primaryRegistry = new Registry();
  const supervision = createSupervisionMetrics({
    registry: primaryRegistry,
    configuredWorkers: count,
    listeningWorkers: () => slots.filter((s) => s.ready).length,
  });
  const watchdog = createLivenessWatchdog({
    timeoutSeconds: config.workerLivenessTimeoutSeconds,
    listeningWorkers: () => slots.flatMap((s) => (s.ready && s.worker ? [s.worker] : [])),
    onUnresponsive: (worker, silentMs) => {
      const slot = slots.find((s) => s.worker === worker);
      if (!slot || stopping) return;
      slot.killed = { reason: "unresponsive", silentMs };
      // Its event loop is blocked: it could not run a SIGTERM handler. Its exit restarts it.
      worker.process.kill("SIGKILL");
    },
  });
  let firstStart: { resolve: () => void; reject: (error: Error) => void } | undefined;
  const allReady = new Promise<void>((resolve, reject) => (firstStart = { resolve, reject }));
  const exits = new Set<Promise<void>>();
  let ports: { https: number; http: number } | undefined;

  // A single executable takes every argument as its own (node's flags come from the SEA's
  // execArgv) and node repeats its path as argv[1]: cluster.fork's `node [execArgv] script args`
  // becomes `hopgate server ...` only with no execArgv and the command standing in for the script.
  if (isSea()) cluster.setupPrimary({ execArgv: [], exec: process.argv[2], args: process.argv.slice(3) });
  const fork = (slot: Slot) => {
    slot.restartTimer = undefined;
    slot.ready = false;
    slot.startedAtMs = Date.now();
    slot.lastStep = undefined;
    slot.killed = undefined;
    const worker = cluster.fork({ [WORKER_INDEX_VARIABLE]: String(slot.index) });
    slot.worker = worker;
    // The first start has its deadline for all workers; a restart has one of its own.
    if (slot.restarts > 0) {
      supervision.workerRestarted();
      armRestartDeadline(slot, worker);
    }
    // A message sent to a worker that just died (EPIPE) must not end the primary: its exit follows.
    worker.on("error", (error) =>
      log.warn({ slot: slot.index, pid: worker.process.pid, err: error.message }, "cannot reach a worker"),
    );
    worker.on("message", (message: unknown) => {
      if (isPongMessage(message)) return watchdog.answered(worker);
      if (isProgressMessage(message)) return void (slot.lastStep = message.step);
      if (isFailedMessage(message)) {
        const failure = `worker ${slot.index} failed to start: ${message.message}`;
        if (firstStart)
          firstStart.reject(new HopGateError(message.configInvalid ? "config_invalid" : "internal", failure));
        else log.error({ slot: slot.index, pid: worker.process.pid, error: message.message }, failure);
        return;
      }
      if (!isReadyMessage(message)) return;
      slot.ready = true;
      watchdog.answered(worker);
      clearRestartDeadline(slot);
      ports ??= { https: message.httpsPort, http: message.httpPort };
      log.info(
        { slot: slot.index, pid: worker.process.pid, server_id: message.serverId },
        slot.restarts > 0 ? "worker restarted and listening" : "worker listening",
      );
      // Worker 1 starts alone: what a first start creates once (the persisted self-signed
      // certificate, the gateway's keys) exists before the others look for it.
      if (firstStart && slot.index === 1) for (const other of slots.slice(1)) fork(other);
      if (firstStart && slots.every((s) => s.ready)) firstStart.resolve();
    });
    exits.add(
      new Promise<void>((resolve) =>
        worker.once("exit", (code, signal) => {
          resolve();
          slot.worker = undefined;
          clearRestartDeadline(slot);
          const wasReady = slot.ready;
          slot.ready = false;
          if (stopping) {
            if (code !== 0) failed = true;
            log.info({ slot: slot.index, pid: worker.process.pid, code, signal }, "worker exited");
            return;
          }
          if (firstStart && !wasReady) {
            firstStart.reject(
              new HopGateError(
                "internal",
                `worker ${slot.index} exited (${signal ?? code}) before it was listening`,
              ),
            );
            return;
          }
          const ranMs = Date.now() - slot.startedAtMs;
          const { delayMs, quickExits } = planRestart(slot.quickExits, ranMs, wasReady);
          slot.quickExits = quickExits;
          slot.restarts += 1;
          const killed = slot.killed;
          supervision.workerExited(killed?.reason ?? (wasReady ? "crashed" : "start_failed"));
          const exit = { worker: slot.index, pid: worker.process.pid, code, signal, ran_ms: ranMs };
          if (killed === undefined) log.warn({ ...exit, restart_in_ms: delayMs }, "worker died; restarting");
          else if (killed.reason === "unresponsive")
            log.warn(
              {
                ...exit,
                seconds_without_answer: Math.round(killed.silentMs / 1000),
                restart_in_ms: delayMs,
              },
              "worker not answering (event loop blocked); killed it, restarting",
            );
          else
            log.warn(
              { ...exit, last_step: slot.lastStep, restart_in_ms: delayMs, error: killed.error },
              "restarted worker not listening by the start deadline; killed it, restarting",
            );
          slot.restartTimer = setTimeout(() => fork(slot), delayMs);
        }),
      ),
    );
  };

  // A restarted worker that hangs before it listens (a store that never answers, a stuck step)
  // would otherwise leave the gateway one worker short for good, with nothing saying so.
  function armRestartDeadline(slot: Slot, worker: Worker): void {
    const deadline = startDeadline(config.startTimeoutSeconds);
    slot.restartDeadline = deadline;
    void deadline.passed.then(() => {
      if (slot.worker !== worker || slot.ready || stopping) return;
      slot.killed = {
        reason: "start_timeout",
        error: deadline.error(notListening(slot, worker, Date.now())).message,
      };
      // It hangs: it would not answer the stop message either. Its exit restarts it.
      worker.process.kill("SIGKILL");
    });
  }

  let metricsListener: MetricsListener | undefined;
  const stopWorkers = async (): Promise<void> => {
    stopping = true;
    watchdog.stop();
    for (const slot of slots) {
      clearTimeout(slot.restartTimer);
      clearRestartDeadline(slot);
    }
    const stop: StopMessage = { type: "hopgate:stop" };
    for (const slot of slots) if (slot.worker?.isConnected()) slot.worker.send(stop);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<"late">(
      (resolve) => (timer = setTimeout(() => resolve("late"), drainMs + EXIT_GRACE_MS)),
    );
    const settled = await Promise.race([Promise.all(exits).then(() => "done" as const), deadline]);
    clearTimeout(timer);
    if (settled === "late") {
      failed = true;
      for (const slot of slots) {
        if (!slot.worker) continue;
        log.error({ slot: slot.index }, "worker did not stop in time; killing it");
        slot.worker.process.kill("SIGKILL");
      }
      await Promise.all(exits);
    }
    await metricsListener?.close();
  };

  log.info({ workers: count }, "starting workers");
  fork(slots[0]!);
  try {
    await Promise.race([
      allReady,
      stopRequested.then(() => Promise.reject(new Error("stopped while starting"))),
      deadline.passed.then(() => Promise.reject(deadline.error(notReady(slots)))),
    ]);
  } catch (error) {
    if (isHopGateError(error, "timeout")) {
      // A worker that hangs would not answer the stop message either.
      const late = slots.filter((s) => !s.ready && s.worker);
      log.error(
        {
          not_ready: late.map((s) => ({ slot: s.index, pid: s.worker?.process.pid, last_step: s.lastStep })),
        },
        "workers not listening by the start deadline; killing them",
      );
      for (const slot of late) slot.worker?.process.kill("SIGKILL");
    }
    log.error({ err: error }, "workers failed to start; stopping the others");
    await stopWorkers();
    if (error instanceof HopGateError) throw error;
    return 1;
  } finally {
    deadline.clear();
  }
  firstStart = undefined;
  watchdog.start();
  try {
    if (config.metricsListen) {
      metricsListener = await createMetricsListener({
        listen: config.metricsListen,
        registry: aggregatedWorkerMetrics({
          listeningWorkers: () =>
            slots.flatMap((s) => (s.ready && s.worker?.isConnected() ? [s.worker] : [])),
          primaryRegistry,
          logger,
        }),
        readiness: createReadinessProbe({
          // A listening worker that hangs makes it not ready once it has not answered the watchdog
          // for 10 s (half the liveness timeout when shorter), until it answers or is replaced.
          checks: [
            {
              name: "workers",
              check: () => {
                if (stopping) throw new Error("draining for shutdown");
                const down = slots.filter((s) => !s.ready).map((s) => s.index);
                if (down.length > 0) throw new Error(`workers not listening: ${down.join(", ")}`);
                const silent = watchdog.unanswering().map((w) => slots.find((s) => s.worker === w)?.index);
                if (silent.length > 0) throw new Error(`workers not answering: ${silent.join(", ")}`);
              },
            },
          ],
        }),
        logger,
      });
    }
  } catch (error) {
    log.error({ err: error }, "metrics listener failed to start; stopping the workers");
    await stopWorkers();
    return 1;
  }
  log.info(
    {
      workers: count,
      https_port: ports?.https,
      http_port: ports?.http,
      metrics_port: metricsListener?.port,
    },
    "HopGate workers listening",
  );
  await stopRequested;
  log.info({ workers: count }, "stopping workers");
  await stopWorkers();
  return failed ? 1 : 0;
}

function clearRestartDeadline(slot: Slot): void {
  slot.restartDeadline?.clear();
  slot.restartDeadline = undefined;
}

/** What the start deadline found: each worker not listening, and why when the primary knows. */
function notReady(slots: readonly Slot[]): string {
  const now = Date.now();
  return slots
    .filter((slot) => !slot.ready)
    .map((slot) =>
      slot.worker
        ? notListening(slot, slot.worker, now)
        : `worker ${slot.index} was not started (it starts once worker 1 listens)`,
    )
    .join("; ");
}

/** A started worker not listening at `nowMs`: how long since its fork, how far its start got. */
function notListening(slot: Slot, worker: Worker, nowMs: number): string {
  const ranSeconds = ((nowMs - slot.startedAtMs) / 1000).toFixed(1);
  return `worker ${slot.index} (pid ${worker.process.pid}) is not listening ${ranSeconds} s after it was started (${stepReport(slot.lastStep)})`;
}
