import { pino, type DestinationStream, type Logger, type LevelWithSilent } from "pino";
import { REDACTED, redactSecretFields, TOP_LEVEL_REDACT_PATHS } from "./log-redaction.js";
import { processStdoutSink } from "./stdout-sink.js";

export type { Logger } from "pino";

export interface LoggerOptions {
  readonly level: LevelWithSilent;
  /** Where JSON lines go; stdout when omitted. */
  readonly destination?: DestinationStream;
  /** Fields on every line, e.g. `{ service: "hopgate-server" }`. */
  readonly base?: Record<string, string>;
  /** More places every line goes, besides `destination` (e.g. the Loki stream of `createLogging`). */
  readonly extraDestinations?: readonly DestinationStream[];
}

/**
 * JSON-lines logger for Loki: `ts` (ISO 8601), `level` (label), `msg`, and `component` on every
 * child (modules log through `logger.child({ component })`, never through the root). Key,
 * password and credential-header fields are censored in log calls (one level deep) and in child
 * bindings (top level) so that no secret reaches a log.
 */
export function createLogger(options: LoggerOptions): Logger {
  return pino(
    {
      level: options.level,
      base: options.base ?? null,
      messageKey: "msg",
      timestamp: () => `,"ts":"${new Date().toISOString()}"`,
      formatters: { level: (label) => ({ level: label }), log: redactSecretFields },
      redact: { paths: [...TOP_LEVEL_REDACT_PATHS], censor: REDACTED },
    },
    destinationOf(options),
  );
}

function destinationOf(options: LoggerOptions): DestinationStream {
  const destination = options.destination ?? processStdoutSink();
  const extra = options.extraDestinations ?? [];
  if (extra.length === 0) return destination;
  // Every stream takes every level: the logger's own level already filtered the line.
  return pino.multistream([destination, ...extra].map((stream) => ({ level: "trace", stream })));
}

/** A logger that drops everything; for tests and tools that want no output. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
