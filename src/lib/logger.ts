import { pino, type DestinationStream, type Logger, type LevelWithSilent } from "pino";

export type { Logger } from "pino";

export interface LoggerOptions {
  readonly level: LevelWithSilent;
  /** Where JSON lines go; stdout when omitted. */
  readonly destination?: DestinationStream;
  /** Fields on every line, e.g. `{ service: "hopgate-server" }`. */
  readonly base?: Record<string, string>;
}

/**
 * JSON-lines logger for Loki: `ts` (ISO 8601), `level` (label), `msg`, and `component` on every
 * child. Key-like fields are censored wherever they appear so that no API key reaches a log.
 */
export function createLogger(options: LoggerOptions): Logger {
  return pino(
    {
      level: options.level,
      base: options.base ?? null,
      messageKey: "msg",
      timestamp: () => `,"ts":"${new Date().toISOString()}"`,
      formatters: { level: (label) => ({ level: label }) },
      redact: {
        paths: [
          "apiKey",
          "clientApiKey",
          "client_api_key",
          "adminApiKey",
          "authorization",
          "*.apiKey",
          "*.clientApiKey",
          "*.client_api_key",
          "*.adminApiKey",
          "*.authorization",
          'headers["x-hopgate-api-key"]',
          'headers["authorization"]',
        ],
        censor: "[redacted]",
      },
    },
    options.destination,
  );
}

/** A logger that drops everything; for tests and tools that want no output. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
