import type { StreamOpen } from "./gen/hopgate/protocol/v1/tunnel_pb.js";
import { ReceiveWindow, SendWindow } from "./flow-window.js";
import { frame } from "./frames.js";
import type { OutboundQueue } from "./outbound-queue.js";
import type { HeaderMap } from "./wire-headers.js";

/** Why a stream ended abnormally: the peer said so, the tunnel died, or the peer broke a rule. */
export type AbortCause = "peer" | "tunnel_closed" | "violation";

/**
 * Where a stream's incoming side goes. `data` may return a promise only on v1 tunnels, to pause
 * the whole tunnel's reading while the destination is congested (v1 peers know no credit).
 */
export interface StreamSink {
  head(open: StreamOpen): void;
  data(chunk: Uint8Array): void | Promise<void>;
  /**
   * The trailer fields of the peer's direction (StreamTrailers), unvalidated but within the
   * header limits; `end` follows. A sink without it drops them.
   */
  trailers?(header: HeaderMap): void;
  /** The peer finished its direction cleanly. */
  end(): void;
  /** The stream is gone: the peer aborted it, the tunnel died, or a limit was broken. */
  abort(reason: string, cause: AbortCause): void;
}

/** What a stream needs from its multiplexer; implemented there, nowhere else. */
export interface StreamHost {
  readonly outbound: OutboundQueue;
  readonly maxChunkBytes: number;
  /** Protocol version at the time of the call: credit exists only in v2. */
  readonly version: 1 | 2;
  /** Both sides announced the "trailers" capability: StreamTrailers may be sent. */
  readonly trailers: boolean;
  countSent(bytes: number): void;
  finished(stream: TunnelStream): void;
}

/**
 * One logical stream of a tunnel (a request and its response), with per-stream credit in each
 * direction on v2. Lifecycle: open, both directions end (clean) or either side aborts; the
 * stream leaves its multiplexer's table once both ends are closed or it is aborted.
 */
export class TunnelStream {
  readonly id: string;
  readonly #host: StreamHost;
  readonly #sendWindow: SendWindow;
  readonly #receiveWindow: ReceiveWindow;
  /** This side sent the stream's StreamOpen first (the server: a request). */
  readonly #openedHere: boolean;
  #sink: StreamSink | undefined;
  #sendSeq = 0n;
  #expectSeq = 0n;
  #sentClose = false;
  #gotOpen = false;
  #gotClose = false;
  #gotTrailers = false;
  #sentTrailers = false;
  #aborted = false;
  /** Body bytes this side sent and received on this stream. */
  sentBytes = 0;
  receivedBytes = 0;

  constructor(id: string, host: StreamHost, windowBytes: number, openedHere = true) {
    this.id = id;
    this.#host = host;
    this.#openedHere = openedHere;
    this.#sendWindow = new SendWindow(host.version === 2 ? windowBytes : Infinity);
    this.#receiveWindow = new ReceiveWindow(windowBytes);
  }

  get closed(): boolean {
    return this.#aborted || (this.#sentClose && this.#gotClose);
  }

  get aborted(): boolean {
    return this.#aborted;
  }

  /** Both sides of this stream's tunnel speak the "trailers" capability (see sendTrailers). */
  get relaysTrailers(): boolean {
    return this.#host.trailers;
  }

  setSink(sink: StreamSink): void {
    this.#sink = sink;
  }

  sendOpen(serviceName: string, header: HeaderMap): void {
    if (this.#aborted) return;
    // Counted at its header size, so that a FrameBatch of many opens stays far below the 4 MiB
    // message limit (10,000 requests arriving at once, each with a few KiB of headers).
    this.#host.outbound.push(frame.open(this.id, serviceName, header), headerMapBytes(header));
  }

  /**
   * Sends body bytes in chunks of at most maxChunkBytes, waiting for credit (v2) and for the
   * tunnel's outbound queue. Resolves false when the stream was aborted meanwhile.
   */
  async write(chunk: Uint8Array): Promise<boolean> {
    let offset = 0;
    for (;;) {
      offset = this.#queue(chunk, offset);
      if (offset === chunk.length || offset === -1) return offset !== -1 && !this.#aborted;
      if (this.#sendWindow.availableBytes <= 0) await this.#sendWindow.whenOpen();
      else await this.#host.outbound.whenWritable();
    }
  }

  /**
   * Queues as much of `chunk` as credit and the outbound queue take without waiting; returns
   * the bytes queued (the caller `write`s the rest), or -1 when the stream can send no more. It
   * never waits, so a source whose chunks fit in the window need not pause for every chunk.
   */
  writeNow(chunk: Uint8Array): number {
    const offset = this.#queue(chunk, 0);
    return this.#aborted ? -1 : offset;
  }

  /** Queues pieces of `chunk` from `offset` while credit and the queue allow; -1 when aborted. */
  #queue(chunk: Uint8Array, offset: number): number {
    const outbound = this.#host.outbound;
    while (offset < chunk.length) {
      if (this.#aborted || this.#sentClose || outbound.ended) return -1;
      const credit = this.#sendWindow.availableBytes;
      if (credit <= 0 || !outbound.writable) return offset;
      const size = Math.min(this.#host.maxChunkBytes, credit, chunk.length - offset);
      const piece = offset === 0 && size === chunk.length ? chunk : chunk.subarray(offset, offset + size);
      outbound.push(frame.data(this.id, this.#sendSeq++, piece), size);
      this.#sendWindow.consume(size);
      this.#host.countSent(size);
      this.sentBytes += size;
      offset += size;
    }
    return offset;
  }

  /**
   * Sends this side's trailer fields (already validated), once, before `end`. Returns false,
   * sending nothing, when the peer did not announce the "trailers" capability (an older v2 peer
   * or a v1 Go peer, which must never see the frame), when it holds nothing, or when too late.
   */
  sendTrailers(header: HeaderMap): boolean {
    if (!this.#host.trailers || this.#aborted || this.#sentClose || this.#sentTrailers) return false;
    let empty = true;
    for (const _ in header) {
      empty = false;
      break;
    }
    if (empty) return false;
    this.#sentTrailers = true;
    this.#host.outbound.push(frame.trailers(this.id, header), headerMapBytes(header));
    return true;
  }

  /** Ends this side's body cleanly. */
  end(): void {
    if (this.#aborted || this.#sentClose) return;
    this.#sentClose = true;
    this.#host.outbound.push(frame.close(this.id));
    if (this.#gotClose) this.#host.finished(this);
  }

  /**
   * Aborts the whole stream and tells the peer why. The local sink hears of it only when
   * `notifySink` (a limit broken by the peer); a caller aborting for its own reasons knows.
   */
  abort(reason: string, notifySink = false): void {
    if (this.#aborted || this.closed) return;
    this.#aborted = true;
    // A v1 Go client reads every StreamClose as the end of the request body, whatever its error,
    // and calls its backend with what it has: on v1, the opener aborts silently until its body
    // has ended (the Go client then holds the partial body until the tunnel ends).
    if (this.#host.version === 2 || this.#sentClose || !this.#openedHere) {
      this.#host.outbound.push(frame.close(this.id, reason || "aborted"));
    }
    this.#sendWindow.release();
    this.#host.finished(this);
    if (notifySink) this.#sink?.abort(reason, "violation");
  }

  /** Returns credit for bytes handed on by the sink (no-op on v1). */
  consumed(bytes: number): void {
    if (this.#aborted || this.#host.version !== 2) return;
    const credit = this.#receiveWindow.consumed(bytes);
    if (credit > 0 && !this.#gotClose) this.#host.outbound.push(frame.credit(this.id, credit));
  }

  // Incoming frames, delivered by the multiplexer only. Each returns a violation text or undefined.

  receiveOpen(open: StreamOpen): string | undefined {
    if (this.#gotOpen) return "duplicate StreamOpen";
    this.#gotOpen = true;
    this.#sink?.head(open);
    return undefined;
  }

  /**
   * One StreamData: `data`, then `more` when its body arrived split (DecodedStreamData). Limits
   * apply to the whole frame; each piece goes to the sink in order.
   */
  receiveData(
    seq: bigint,
    data: Uint8Array,
    more?: readonly Uint8Array[],
  ): string | Promise<void> | undefined {
    let length = data.length;
    if (more) for (const piece of more) length += piece.length;
    // A body before its head (a response before the client's StreamOpen) has no message to belong to.
    if (!this.#gotOpen) return "StreamData before StreamOpen";
    if (this.#gotClose) return "StreamData after StreamClose";
    if (this.#gotTrailers) return "StreamData after StreamTrailers";
    if (this.#host.version === 2) {
      if (seq !== this.#expectSeq) return `StreamData seq ${seq} where ${this.#expectSeq} was expected`;
      if (length > this.#host.maxChunkBytes) return `StreamData of ${length} bytes exceeds the chunk limit`;
      if (!this.#receiveWindow.received(length)) return "StreamData beyond the granted window";
    }
    this.#expectSeq++;
    this.receivedBytes += length;
    const sink = this.#sink;
    if (!sink) return undefined;
    if (!more) return sink.data(data) ?? undefined;
    return deliverPieces(sink, [data, ...more], 0) ?? undefined;
  }

  receiveTrailers(header: HeaderMap): string | undefined {
    if (!this.#gotOpen) return "StreamTrailers before StreamOpen";
    if (this.#gotClose) return "StreamTrailers after StreamClose";
    if (this.#gotTrailers) return "duplicate StreamTrailers";
    this.#gotTrailers = true;
    this.#sink?.trailers?.(header);
    return undefined;
  }

  receiveClose(error: string): void {
    if (error) {
      if (this.#aborted) return;
      this.#aborted = true;
      this.#sendWindow.release();
      this.#host.finished(this);
      this.#sink?.abort(error, "peer");
      return;
    }
    this.#gotClose = true;
    this.#sink?.end();
    if (this.#sentClose) this.#host.finished(this);
  }

  receiveCredit(bytes: number): string | undefined {
    return this.#sendWindow.grant(bytes) ? undefined : "StreamCredit overflows the window";
  }

  /** The tunnel is gone: fail locally without sending anything. */
  fail(reason: string): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#sendWindow.release();
    this.#sink?.abort(reason, "tunnel_closed");
  }
}

/** Hands pieces to a sink in order; a promise (v1 backpressure) holds the rest until it settles. */
function deliverPieces(sink: StreamSink, pieces: readonly Uint8Array[], from: number): void | Promise<void> {
  for (let i = from; i < pieces.length; i++) {
    const pending = sink.data(pieces[i] as Uint8Array);
    if (pending) return pending.then(() => deliverPieces(sink, pieces, i + 1));
  }
}

/** Approximate encoded size of a header map: names and values (UTF-16 length, close enough). */
function headerMapBytes(header: HeaderMap): number {
  let bytes = 0;
  for (const name in header) {
    bytes += name.length + 8;
    for (const value of (header[name] as HeaderMap[string]).values) bytes += value.length + 4;
  }
  return bytes;
}
