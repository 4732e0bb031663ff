import type { DestinationStream, LevelWithSilent } from "pino";
import { createLogger, type Logger } from "./logger.js";
import { createLokiStream, type LokiStreamOptions } from "./loki-stream.js";

/** Loki push settings (from `lokiOptionsFromConfig`), without the error callback `createLogging` supplies. */
export type LokiOptions = Omit<LokiStreamOptions, "onError">;

export interface LoggingOptions {
  readonly level: LevelWithSilent;
  /** Where JSON lines go; stdout when omitted. */
  readonly destination?: DestinationStream;
  /** Fields on every line, e.g. `{ service: "hopgate-server" }`. */
  readonly base?: Record<string, string>;
  /** Also push every line to Loki; no push when omitted. */
  readonly loki?: LokiOptions;
}

export interface Logging {
  /** The root logger: modules log through `logger.child({ component })`. */
  readonly logger: Logger;
  /** Pushes what is left to Loki (bounded by `timeoutMs`, default 5000) and flushes stdout. */
  close(timeoutMs?: number): Promise<void>;
}

/**
 * The process's logging, built once by the composition root: JSON lines to stdout and, when
 * configured, the same lines to Loki. Loki trouble is logged as a `warn` line (component `loki`)
 * at most once per report interval; it never blocks, slows or crashes logging.
 */
export function createLogging(options: LoggingOptions): Logging {
  // onError runs only after a push, long after `lokiLogger` below exists.
  const loki = options.loki
    ? createLokiStream({
        ...options.loki,
        onError: (report) =>
          lokiLogger.warn(
            { err: report.error, failed_pushes: report.failedPushes, dropped_lines: report.droppedLines },
            "Loki push failing; lines are still written to stdout",
          ),
      })
    : undefined;
  const logger = createLogger({
    level: options.level,
    destination: options.destination,
    base: options.base,
    extraDestinations: loki ? [loki] : [],
  });
  const lokiLogger = logger.child({ component: "loki" });
  return {
    logger,
    async close(timeoutMs) {
      await loki?.close(timeoutMs);
      await new Promise<void>((resolve) => logger.flush(() => resolve()));
    },
  };
}
