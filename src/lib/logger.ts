import { pino, type DestinationStream, type Logger, type LevelWithSilent } from "pino";
import { REDACTED, redactSecretFields, TOP_LEVEL_REDACT_PATHS } from "./log-redaction.js";

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
  const destination = options.destination ?? stdoutDestination();
  const extra = options.extraDestinations ?? [];
  if (extra.length === 0) return destination;
  // Every stream takes every level: the logger's own level already filtered the line.
  return pino.multistream([destination, ...extra].map((stream) => ({ level: "trace", stream })));
}

/**
 * stdout, written synchronously, one write(2) per line on the main thread, as Node's own
 * console writes to pipes and terminals on Linux. pino's default (asynchronous) handed each
 * line to a libuv thread-pool write whose completion woke the event loop once more: with one
 * access line per request, that was ~20 µs of a pool thread, ~30 µs of the main thread and a
 * fifth of the server's wakeups per request (docs/performance.md, change 9). The price: a log
 * reader that stops reading (a full pipe) stalls the process instead of growing its memory.
 */
function stdoutDestination(): DestinationStream {
  return pino.destination({ dest: 1, sync: true });
}

/** A logger that drops everything; for tests and tools that want no output. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
