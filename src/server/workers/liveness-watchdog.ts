import type { Worker } from "node:cluster";
import type { PingMessage } from "./worker-messages.js";

/** Pings at most this far apart (and four per timeout when the timeout is shorter). */
const PING_INTERVAL_MAX_MS = 5_000;
/** /readyz says not ready once a worker has been silent this long (or half the timeout). */
const UNREADY_AFTER_MAX_MS = 10_000;

export interface LivenessWatchdogOptions {
  /** HOP_SERVER_WORKER_LIVENESS_TIMEOUT_SECONDS; 0: the watchdog never pings nor kills. */
  readonly timeoutSeconds: number;
  /** The workers listening now, asked at each ping. */
  readonly listeningWorkers: () => readonly Worker[];
  /** `worker` has not answered for `silentMs` >= the timeout: kill it (its exit restarts it). */
  readonly onUnresponsive: (worker: Worker, silentMs: number) => void;
}

export interface LivenessWatchdog {
  /** Starts pinging; until then (the first start) nothing is judged. */
  start(): void;
  /** `worker` answered a ping or just listened: its silence starts over. */
  answered(worker: Worker): void;
  /** Listening workers silent for longer than /readyz tolerates. */
  unanswering(): Worker[];
  /** Clears the timer (at shutdown): no ping, no kill after it. */
  stop(): void;
}

/**
 * The primary's liveness watchdog over its listening workers (docs/operations.md "--workers"):
 * a worker whose event loop is blocked (an endless loop, a stuck synchronous call, SIGSTOP) still
 * gets its share of new connections, each of which hangs. Every ping interval each listening
 * worker is pinged over IPC and answers from its event loop; one silent for the timeout is
 * reported once to `onUnresponsive`. The default timeout (60 s) is far above a GC pause or a
 * load stall (a busy worker's loop still turns within a second or two), so that only a real hang
 * is killed. Silence is counted only while the primary's own timer runs on time: after a stall of
 * the primary (its pongs unread in the pipe) every worker's silence starts over.
 */
export function createLivenessWatchdog(options: LivenessWatchdogOptions): LivenessWatchdog {
  const timeoutMs = options.timeoutSeconds * 1000;
  const pingIntervalMs = Math.min(PING_INTERVAL_MAX_MS, timeoutMs / 4);
  const unreadyAfterMs = Math.min(UNREADY_AFTER_MAX_MS, timeoutMs / 2);
  const lastAnswerMs = new WeakMap<Worker, number>();
  const reported = new WeakSet<Worker>();
  const ping: PingMessage = { type: "hopgate:ping" };
  let timer: NodeJS.Timeout | undefined;
  let lastTickMs = 0;

  const silentMs = (worker: Worker, nowMs: number): number => {
    const last = lastAnswerMs.get(worker);
    if (last === undefined) lastAnswerMs.set(worker, nowMs);
    return nowMs - (last ?? nowMs);
  };

  const tick = () => {
    const nowMs = Date.now();
    const primaryStalled = nowMs - lastTickMs > 2 * pingIntervalMs;
    lastTickMs = nowMs;
    for (const worker of options.listeningWorkers()) {
      if (reported.has(worker)) continue;
      if (primaryStalled) lastAnswerMs.set(worker, nowMs);
      const silent = silentMs(worker, nowMs);
      if (silent >= timeoutMs) {
        reported.add(worker);
        options.onUnresponsive(worker, silent);
        continue;
      }
      if (worker.isConnected()) worker.send(ping);
    }
  };

  return {
    start() {
      if (timeoutMs === 0 || timer) return;
      lastTickMs = Date.now();
      timer = setInterval(tick, pingIntervalMs);
    },
    answered(worker) {
      lastAnswerMs.set(worker, Date.now());
    },
    unanswering() {
      if (!timer) return [];
      const nowMs = Date.now();
      return options.listeningWorkers().filter((worker) => silentMs(worker, nowMs) > unreadyAfterMs);
    },
    stop() {
      clearInterval(timer);
      timer = undefined;
    },
  };
}
