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

/** Lines are gathered up to this many bytes before they are written (below sonic-boom's 16 KiB maxWrite). */
const STDOUT_BATCH_BYTES = 8 * 1024;
/** A gathered line waits at most this long for the rest of its batch. */
const STDOUT_FLUSH_MS = 100;
let sharedStdout: DestinationStream | undefined;

/**
 * stdout, written synchronously on the main thread in batches: lines are gathered until 8 KiB
 * or 100 ms, whichever comes first, then written with one write(2), and whatever is left is
 * written when the process exits (also after an uncaught exception; not after SIGKILL, which
 * loses at most the last 100 ms of lines). One write per access line cost a system call and a
 * wakeup of the log reader per request: 15 % of the server's CPU at 1,000 requests/s
 * (docs/performance.md, change 14). pino's asynchronous mode handed each write to a libuv
 * thread-pool write whose completion woke the event loop once more (change 9). The price of
 * writing synchronously: a log reader that stops reading (a full pipe) stalls the process
 * instead of growing its memory.
 */
function stdoutDestination(): DestinationStream {
  // One buffer for every logger of the process, so that their lines keep their order.
  if (sharedStdout) return sharedStdout;
  const destination = pino.destination({
    dest: 1,
    sync: true,
    minLength: STDOUT_BATCH_BYTES,
    periodicFlush: STDOUT_FLUSH_MS,
  });
  process.once("exit", () => {
    try {
      destination.flushSync();
    } catch {
      // stdout is gone (closed pipe): nothing can be written any more.
    }
  });
  sharedStdout = destination;
  return destination;
}

/** A logger that drops everything; for tests and tools that want no output. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
