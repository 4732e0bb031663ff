import type { StdoutSink } from "./stdout-sink.js";
import { clockTime, terminalSafe, type Colour, type TerminalPaint } from "./terminal-text.js";

/** A logger's JSON line as a record, for `PrettyLogOptions.show`. */
export type LogRecord = Readonly<Record<string, unknown>>;

export interface PrettyLogOptions {
  /** Where the readable lines go: the process's bounded, non-blocking stdout sink. */
  readonly sink: StdoutSink;
  readonly paint: TerminalPaint;
  /** Which lines people see; the others are dropped (they still reach Loki when it is on). */
  readonly show: (record: LogRecord) => boolean;
}

/** Fields every line has or that only machines need: not repeated after the message. */
const HIDDEN_FIELDS = new Set(["ts", "level", "msg", "service", "component"]);

const LEVEL_COLOUR: Readonly<Record<string, Colour>> = {
  fatal: "red",
  error: "red",
  warn: "yellow",
  info: "cyan",
  debug: "dim",
  trace: "dim",
};

/**
 * A pino destination that prints each JSON line as one readable line, as cloudflared does:
 * `21:03:04 WARN  tunnel down; reconnecting  domain=app.example.com retry_in_ms=1000`. Errors
 * show their message only. Text from peers is made terminal-safe. Writes go through the stdout
 * sink, so that a terminal nobody reads never stalls the client.
 */
export function createPrettyLogStream(options: PrettyLogOptions): StdoutSink {
  const { sink, paint } = options;
  return {
    get droppedLines() {
      return sink.droppedLines;
    },
    write(line) {
      let record: LogRecord;
      try {
        record = JSON.parse(line) as LogRecord;
      } catch {
        // pino writes only JSON; anything else is passed on rather than lost.
        sink.write(terminalSafe(line.trimEnd()) + "\n");
        return;
      }
      if (options.show(record)) sink.write(prettyLine(record, paint) + "\n");
    },
    flush: (callback) => sink.flush(callback),
    flushSync: () => sink.flushSync(),
  };
}

export function prettyLine(record: LogRecord, paint: TerminalPaint): string {
  const level = typeof record.level === "string" ? record.level : "info";
  const time = typeof record.ts === "string" ? new Date(record.ts) : new Date();
  const fields = Object.entries(record)
    .filter(([key]) => !HIDDEN_FIELDS.has(key))
    .map(([key, value]) => `${key}=${fieldText(value)}`);
  const head = `${paint("dim", clockTime(time))} ${paint(LEVEL_COLOUR[level] ?? "cyan", level.toUpperCase().padEnd(5))}`;
  const message = terminalSafe(typeof record.msg === "string" ? record.msg : "");
  return fields.length === 0 ? `${head} ${message}` : `${head} ${message}  ${paint("dim", fields.join(" "))}`;
}

function fieldText(value: unknown): string {
  if (isError(value)) return quoted(value.message);
  if (typeof value === "string") return quoted(value);
  return terminalSafe(JSON.stringify(value) ?? String(value));
}

function quoted(text: string): string {
  const safe = terminalSafe(text);
  return /^[^\s"=]+$/.test(safe) ? safe : `"${safe.replace(/"/g, '\\"')}"`;
}

function isError(value: unknown): value is { message: string } {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as { message?: unknown }).message === "string"
  );
}
