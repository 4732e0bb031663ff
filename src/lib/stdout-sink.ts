import type { DestinationStream } from "pino";

/** Lines are gathered up to this many bytes before they are written (one write(2) per batch). */
const BATCH_BYTES = 8 * 1024;
/** A gathered line waits at most this long for the rest of its batch. */
const FLUSH_MS = 100;
/**
 * Bytes that may wait for a slow log reader; lines beyond are dropped and counted. Docker's
 * non-blocking log mode buffers 1 MB by default; at 1,000 access lines/s this is 3 s of lines.
 */
export const DEFAULT_MAX_PENDING_BYTES = 1024 * 1024;
/** How long `flush` waits for a reader to take the pending bytes before it gives up. */
const FLUSH_WAIT_MS = 2000;

/** The writable end the sink writes to: `process.stdout`, or a test double of it. */
export interface SinkTarget {
  /** Bytes accepted but not yet handed to the kernel (a pipe whose reader stopped reading). */
  readonly writableLength: number;
  write(chunk: string, callback?: (error?: Error | null) => void): boolean;
  once(event: "drain", listener: () => void): unknown;
  removeListener(event: "drain", listener: () => void): unknown;
  on(event: "error", listener: (error: Error) => void): unknown;
}

/** A pino destination for JSON lines that never blocks the event loop. */
export interface StdoutSink extends DestinationStream {
  write(line: string): void;
  /** Hands the gathered lines to the target; `callback` once they left, or after 2 s at most. */
  flush(callback?: (error?: Error) => void): void;
  /** Writes the gathered lines now; pino calls it on its synchronous exit paths. */
  flushSync(): void;
  /** Lines dropped so far because the reader fell more than `maxPendingBytes` behind. */
  readonly droppedLines: number;
}

/**
 * Lines are gathered until 8 KiB or 100 ms, whichever comes first, then written with one
 * write: one write(2) per line cost 15 % of the server's CPU at 1,000 requests/s
 * (docs/performance.md, change 14). The target is `process.stdout`, which Node writes
 * without blocking when it is a pipe (the kernel takes what fits, libuv queues the rest) and
 * synchronously when it is a file. A reader that stops reading (a full pipe) must never stall
 * the proxy, as a synchronous write to a full pipe did (issue 12 §5): while more than
 * `maxPendingBytes` wait for it, new lines are dropped and counted
 * (`hopgate_log_lines_dropped_total`), as Docker's non-blocking log mode does.
 * A closed stdout (EPIPE) drops every later line.
 */
export function createStdoutSink(
  target: SinkTarget,
  maxPendingBytes: number = DEFAULT_MAX_PENDING_BYTES,
): StdoutSink {
  let batch = "";
  let dropped = 0;
  let broken = false;
  let timer: NodeJS.Timeout | undefined;

  target.on("error", () => {
    broken = true;
  });

  function writeBatch(): void {
    if (timer) clearTimeout(timer);
    timer = undefined;
    if (batch === "") return;
    const text = batch;
    batch = "";
    // Write errors (EPIPE) also arrive as the target's "error" event, handled above.
    if (!broken) target.write(text);
  }

  return {
    get droppedLines() {
      return dropped;
    },
    write(line) {
      if (broken || target.writableLength + batch.length + line.length > maxPendingBytes) {
        dropped++;
        return;
      }
      batch += line;
      if (batch.length >= BATCH_BYTES) writeBatch();
      else if (!timer) {
        timer = setTimeout(writeBatch, FLUSH_MS);
        timer.unref();
      }
    },
    flush(callback) {
      writeBatch();
      if (!callback) return;
      if (broken || target.writableLength === 0) return void setImmediate(callback);
      const done = () => {
        clearTimeout(deadline);
        target.removeListener("drain", done);
        callback();
      };
      const deadline = setTimeout(done, FLUSH_WAIT_MS);
      deadline.unref();
      target.once("drain", done);
    },
    flushSync() {
      writeBatch();
    },
  };
}

let processSink: StdoutSink | undefined;

/**
 * The process's one stdout sink, shared by every logger so that their lines keep their order.
 * What is gathered is written when the process exits (also after an uncaught exception; not
 * after SIGKILL, which loses at most the last 100 ms of lines).
 */
export function processStdoutSink(): StdoutSink {
  if (processSink) return processSink;
  writeTerminalWithoutBlocking(process.stdout);
  const sink = createStdoutSink(process.stdout);
  // A write to a pipe with nothing queued is attempted at once, so this still reaches the reader.
  process.once("exit", () => sink.flush());
  processSink = sink;
  return sink;
}

/**
 * Node writes to a terminal synchronously (lib/tty.js sets its handle blocking, so that output
 * is not lost at exit): a terminal nobody reads (flow control on, a stalled ssh session, a
 * paused `script`) then blocked the whole process in write(2), tunnels included. Made
 * non-blocking, a terminal behaves as a pipe does: what it does not take waits in the stream,
 * within the sink's bound, and the sink's exit flush is attempted at once.
 */
function writeTerminalWithoutBlocking(stdout: NodeJS.WriteStream): void {
  if (!stdout.isTTY) return;
  const handle = (stdout as { _handle?: { setBlocking?: (blocking: boolean) => number } })._handle;
  handle?.setBlocking?.(false);
}

/** Lines the process's stdout sink dropped so far (0 before any logger wrote to stdout). */
export function stdoutDroppedLines(): number {
  return processSink?.droppedLines ?? 0;
}
