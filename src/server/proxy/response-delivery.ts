import type { Http2ServerRequest, Http2Session } from "node:http2";
import type { ChunkDestination } from "../../protocol/stream-pump.js";
import type { TunnelStream } from "../../protocol/tunnel-stream.js";
import type { VisitorRequest } from "./visitor.js";

/** Why a visitor is given up while its response body is on its way. */
export type DeliveryFailure = "stalled" | "overflow";

export interface ResponseDeliveryOptions {
  /**
   * A write to the visitor that has not left userland after this long, with no other write
   * finishing meanwhile, means the visitor is gone or stopped reading (nginx `send_timeout`,
   * measured between two successive writes, not over the whole response).
   */
  readonly stallTimeoutMs: number;
  /**
   * v1 tunnels only (they know no per-stream credit): body bytes waiting for this one visitor
   * beyond which its stream is aborted, so that it never pauses the tunnel of every other visitor.
   */
  readonly maxBufferedBytes: number;
  readonly version: 1 | 2;
  readonly onFailure: (failure: DeliveryFailure) => void;
}

/** What a tunnel of version 1 may buffer for one visitor (README: one slow visitor never stalls the others). */
export const V1_MAX_BUFFERED_BYTES_PER_STREAM = 4 * 1024 * 1024;

/**
 * Hands the chunks of one response body to the visitor and watches that they leave: credit
 * goes back (v2) as each write's callback fires. It never waits on `drain` or `close` alone:
 * node's HTTP/2 compatibility response may emit neither once the peer is gone
 * (nodejs/node#56374), so a write that stays pending past the stall timeout gives the visitor
 * up, and on v1 a visitor whose unsent bytes pass the bound is given up at once.
 */
export class ResponseDelivery {
  readonly #options: ResponseDeliveryOptions;
  #pendingWrites = 0;
  #bufferedBytes = 0;
  #lastProgressMs = 0;
  #timer: NodeJS.Timeout | undefined;
  #failed = false;

  constructor(options: ResponseDeliveryOptions) {
    this.#options = options;
  }

  deliver(destination: ChunkDestination, chunk: Uint8Array, stream: TunnelStream): void {
    if (this.#failed || destination.destroyed || destination.writableEnded) return;
    const bytes = chunk.length;
    if (this.#pendingWrites++ === 0) this.#lastProgressMs = Date.now();
    this.#bufferedBytes += bytes;
    destination.write(chunk, () => {
      this.#pendingWrites--;
      this.#bufferedBytes -= bytes;
      this.#lastProgressMs = Date.now();
      stream.consumed(bytes);
    });
    if (this.#options.version === 1 && this.#bufferedBytes > this.#options.maxBufferedBytes) {
      return this.#fail("overflow");
    }
    this.#timer ??= setTimeout(() => this.#check(), this.#options.stallTimeoutMs);
  }

  /** The exchange is over: no more checks. */
  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #check(): void {
    this.#timer = undefined;
    if (this.#failed || this.#pendingWrites === 0) return;
    const quietMs = Date.now() - this.#lastProgressMs;
    if (quietMs >= this.#options.stallTimeoutMs) return this.#fail("stalled");
    this.#timer = setTimeout(() => this.#check(), this.#options.stallTimeoutMs - quietMs);
  }

  #fail(failure: DeliveryFailure): void {
    this.#failed = true;
    this.stop();
    this.#options.onFailure(failure);
  }
}

/**
 * Calls `onGone` when the HTTP/2 visitor's connection closes, with one listener per connection
 * whatever the number of its streams (a listener per stream would pass node's listener limit).
 * Returns the unsubscribe function. HTTP/1.1 needs none: a response's `close` follows its socket's.
 */
export function onVisitorConnectionClosed(req: VisitorRequest, onGone: () => void): () => void {
  if (req.httpVersionMajor !== 2) return noop;
  const session = (req as Http2ServerRequest).stream.session;
  if (!session) return noop;
  let watchers = sessionWatchers.get(session);
  if (!watchers) {
    const set = new Set<() => void>();
    watchers = set;
    sessionWatchers.set(session, set);
    let fired = false;
    const closed = () => {
      if (fired) return;
      fired = true;
      sessionWatchers.delete(session);
      for (const watcher of [...set]) watcher();
    };
    session.once("close", closed);
    session.socket?.once("close", closed);
  }
  const set = watchers;
  set.add(onGone);
  return () => set.delete(onGone);
}

const sessionWatchers = new WeakMap<Http2Session, Set<() => void>>();

function noop(): void {
  // Nothing to unsubscribe.
}
