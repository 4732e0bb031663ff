import { Writable } from "node:stream";
import { createLogger, type Logger } from "../../src/lib/logger.js";

export type LogLine = Readonly<Record<string, unknown>>;

export interface LogCapture {
  readonly logger: Logger;
  /** Every JSON line logged so far, parsed, in order. */
  readonly lines: readonly LogLine[];
  /** Lines logged from index `from` on whose `msg` is `msg`. */
  since(from: number, msg: string): LogLine[];
}

/**
 * A logger of the code under test that keeps its lines in memory (debug level), so that a test
 * can assert what was logged and why. Lines are also echoed to stderr when HOPGATE_TEST_LOG is set.
 */
export function captureLogs(): LogCapture {
  const lines: LogLine[] = [];
  const echo = process.env.HOPGATE_TEST_LOG !== undefined;
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const text of chunk.toString().split("\n")) {
        if (text === "") continue;
        lines.push(JSON.parse(text) as LogLine);
        if (echo) process.stderr.write(`${text}\n`);
      }
      callback();
    },
  });
  return {
    logger: createLogger({ level: "debug", destination }),
    lines,
    since: (from, msg) => lines.slice(from).filter((line) => line.msg === msg),
  };
}
