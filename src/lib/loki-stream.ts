import { pino } from "pino";
import { createBoundedQueue, type BoundedQueue } from "./bounded-queue.js";
import {
  createLokiPusher,
  LokiPushError,
  type LokiEntry,
  type LokiPusher,
  type LokiTarget,
} from "./loki-push.js";

export interface LokiStreamOptions extends LokiTarget {
  /** Stream labels on every entry (the entry's `level` is added). */
  readonly labels: Readonly<Record<string, string>>;
  /** How often buffered lines are pushed; default 1000 ms. */
  readonly batchIntervalMs?: number;
  /** Buffer bound; when full the oldest lines are dropped (and counted). Default 8 MiB. */
  readonly maxBufferedBytes?: number;
  /** Largest push body, roughly; default 1 MiB (Loki's default limit is 4 MiB per push). */
  readonly maxBatchBytes?: number;
  /** Deadline of one push; default 10 s. */
  readonly requestTimeoutMs?: number;
  /** At most one error report per this interval; default 60 s. */
  readonly errorReportIntervalMs?: number;
  /** Told about failing pushes and dropped lines, at most once per `errorReportIntervalMs`. */
  readonly onError: (report: LokiErrorReport) => void;
}

export interface LokiErrorReport {
  /** The latest failure, or a note that lines were dropped while Loki was merely slow. */
  readonly error: Error;
  /** Pushes that failed since the previous report. */
  readonly failedPushes: number;
  /** Lines dropped (buffer full or refused by Loki) since the previous report. */
  readonly droppedLines: number;
}

/** A pino destination that batches lines to Loki; it never blocks the writer and never throws. */
export interface LokiStream {
  readonly [pino.symbols.needsMetadataGsym]: true;
  /** Set by pino before each write: the numeric level of the line being written. */
  lastLevel: number;
  write(line: string): void;
  /** Pushes everything buffered now (one attempt); resolves when done, whatever the outcome. */
  flush(): Promise<void>;
  /** Stops the timer and pushes what is left, giving up after `timeoutMs` (default 5000). */
  close(timeoutMs?: number): Promise<void>;
}

const LEVEL_LABELS: Readonly<Record<number, string>> = {
  10: "trace",
  20: "debug",
  30: "info",
  40: "warn",
  50: "error",
  60: "fatal",
};

/**
 * Lines are queued in memory and pushed by a timer (unref'd: it never keeps the process alive),
 * one request at a time. A push that fails with a network error, 429 or 5xx is queued again in
 * front and retried with exponential backoff (up to 30 s); a refused batch (other 4xx) is
 * dropped. The queue is bounded, so a Loki outage costs at most `maxBufferedBytes` of memory and
 * never slows or stops logging to stdout.
 */
export function createLokiStream(options: LokiStreamOptions): LokiStream {
  return new BatchingLokiStream(options);
}

const MAX_RETRY_DELAY_MS = 30_000;

class BatchingLokiStream implements LokiStream {
  readonly [pino.symbols.needsMetadataGsym] = true as const;
  lastLevel = 30;
  readonly #options: LokiStreamOptions;
  readonly #pusher: LokiPusher;
  readonly #queue: BoundedQueue<LokiEntry>;
  readonly #maxBatchBytes: number;
  readonly #intervalMs: number;
  readonly #timer: NodeJS.Timeout;
  readonly #closing = new AbortController();
  #closed = false;
  #draining: Promise<void> | undefined;
  #failuresInRow = 0;
  #retryAtMs = 0;
  #lastReportAtMs = -Infinity;
  readonly #pending = { failedPushes: 0, droppedLines: 0, lastError: undefined as Error | undefined };

  constructor(options: LokiStreamOptions) {
    this.#options = options;
    this.#pusher = createLokiPusher(options, options.labels);
    this.#queue = createBoundedQueue({
      maxSize: options.maxBufferedBytes ?? 8 * 1024 * 1024,
      sizeOf: (entry) => entry.line.length,
    });
    this.#maxBatchBytes = options.maxBatchBytes ?? 1024 * 1024;
    this.#intervalMs = options.batchIntervalMs ?? 1000;
    this.#timer = setInterval(() => {
      if (Date.now() >= this.#retryAtMs) void this.#drain();
    }, this.#intervalMs);
    this.#timer.unref();
  }

  write(line: string): void {
    if (this.#closed) return;
    const text = line.endsWith("\n") ? line.slice(0, -1) : line;
    const level = LEVEL_LABELS[this.lastLevel] ?? "info";
    this.#pending.droppedLines += this.#queue.push({ timeMs: Date.now(), level, line: text });
    // A burst fills a batch before the timer fires; push it now unless Loki is failing.
    if (this.#failuresInRow === 0 && this.#queue.size >= this.#maxBatchBytes) void this.#drain();
  }

  async flush(): Promise<void> {
    await this.#draining;
    await this.#drain();
  }

  async close(timeoutMs = 5000): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    const deadline = setTimeout(
      () => this.#closing.abort(new Error("Loki close deadline passed")),
      timeoutMs,
    );
    try {
      await this.flush();
    } finally {
      clearTimeout(deadline);
    }
  }

  /** Pushes batches until the queue is empty or a push fails; one drain at a time. */
  #drain(): Promise<void> {
    // `finally` callbacks run as a later job, so the reset never precedes the assignment.
    this.#draining ??= this.#drainLoop().finally(() => {
      this.#draining = undefined;
    });
    return this.#draining;
  }

  async #drainLoop(): Promise<void> {
    while (this.#queue.length > 0 && !this.#closing.signal.aborted) {
      if (!(await this.#pushBatch())) break;
    }
    this.#maybeReport();
  }

  async #pushBatch(): Promise<boolean> {
    const batch = this.#queue.take(this.#maxBatchBytes);
    const timeout = AbortSignal.timeout(this.#options.requestTimeoutMs ?? 10_000);
    try {
      await this.#pusher.push(batch, AbortSignal.any([timeout, this.#closing.signal]));
      this.#failuresInRow = 0;
      return true;
    } catch (error) {
      const failure = error instanceof LokiPushError ? error : new LokiPushError(String(error), false);
      this.#failuresInRow++;
      this.#retryAtMs =
        Date.now() + Math.min(MAX_RETRY_DELAY_MS, this.#intervalMs * 2 ** this.#failuresInRow);
      this.#pending.failedPushes++;
      this.#pending.lastError = failure;
      this.#pending.droppedLines +=
        failure.retriable && !this.#closed ? this.#queue.unshift(batch) : batch.length;
      return false;
    }
  }

  #maybeReport(): void {
    const pending = this.#pending;
    if (pending.failedPushes === 0 && pending.droppedLines === 0) return;
    const now = Date.now();
    if (now - this.#lastReportAtMs < (this.#options.errorReportIntervalMs ?? 60_000)) return;
    this.#lastReportAtMs = now;
    const error = pending.lastError ?? new Error("Loki push buffer full: oldest lines dropped");
    const report = { error, failedPushes: pending.failedPushes, droppedLines: pending.droppedLines };
    Object.assign(pending, { failedPushes: 0, droppedLines: 0, lastError: undefined });
    try {
      this.#options.onError(report);
    } catch (reportError) {
      process.emitWarning(reportError instanceof Error ? reportError : String(reportError));
    }
  }
}
