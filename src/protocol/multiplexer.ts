import type { DecodedStreamData } from "./envelope-decoder.js";
import { frame } from "./frames.js";
import type { Envelope, HeaderValues, StreamOpen } from "./gen/hopgate/protocol/v1/tunnel_pb.js";
import type { OutboundQueue } from "./outbound-queue.js";
import { TunnelStream, type StreamHost } from "./tunnel-stream.js";
import { Capability } from "./handshake.js";
import type { HeaderMap } from "./wire-headers.js";

export interface MultiplexerLimits {
  /** Streams open at once; a peer opening more has the extra ones refused. */
  readonly maxStreams: number;
  /** Largest StreamData payload accepted and sent. */
  readonly maxChunkBytes: number;
  /** Per-stream credit in each direction (v2). */
  readonly windowBytes: number;
  /** Sum of name and value lengths in one StreamOpen (or StreamTrailers) header map. */
  readonly maxHeaderBytes: number;
  /** Entries (name, value pairs) in one StreamOpen (or StreamTrailers) header map. */
  readonly maxHeaderCount: number;
}

export interface MultiplexerOptions {
  readonly outbound: OutboundQueue;
  readonly limits: MultiplexerLimits;
  readonly version: 1 | 2;
  /**
   * A StreamOpen for an unknown id: the peer opens a stream (on the client, a request). Must
   * set the stream's sink synchronously. Absent on the server, where only it opens streams.
   */
  readonly onRemoteOpen?: (stream: TunnelStream, open: StreamOpen) => void;
  /**
   * Whether `id` names a stream this side opened and has since finished. Its StreamOpen may
   * still arrive: a v1 peer answers a request whose visitor left meanwhile (v1 has no way to
   * cancel a stream), so that StreamOpen crossed the abort on the wire and is dropped silently.
   */
  readonly finishedHere?: (id: string) => boolean;
  /** Frames that are not stream frames (ping, pong, drain, accept). */
  readonly onControl: (envelope: Envelope) => void;
  /** A peer broke the protocol on one stream (which was aborted) or on none in particular. */
  readonly onViolation: (detail: string, streamId: string | undefined) => void;
  /** A stream left the table (finished or aborted). */
  readonly onStreamFinished?: (stream: TunnelStream) => void;
  /** Body bytes sent or received (for the GC pacer). */
  readonly onBodyBytes?: (bytes: number) => void;
}

/**
 * The table of logical streams of one tunnel, shared by the server session and the client
 * connection: it alone adds and removes streams, routes incoming frames to them and enforces
 * the per-tunnel limits. Frames for streams that already finished are dropped silently (they
 * cross an abort on the wire); anything else unexpected is a violation.
 */
export class Multiplexer implements StreamHost {
  readonly outbound: OutboundQueue;
  readonly #options: MultiplexerOptions;
  #limits: MultiplexerLimits;
  readonly #streams = new Map<string, TunnelStream>();
  #version: 1 | 2;
  #trailers = false;
  #bytesSent = 0;
  #bytesReceived = 0;

  constructor(options: MultiplexerOptions) {
    this.#options = options;
    this.outbound = options.outbound;
    this.#version = options.version;
    this.#limits = options.limits;
  }

  get version(): 1 | 2 {
    return this.#version;
  }

  /** Both sides announced the "trailers" capability (v2 only; set by `upgrade`). */
  get trailers(): boolean {
    return this.#trailers;
  }

  get maxChunkBytes(): number {
    return this.#limits.maxChunkBytes;
  }

  get size(): number {
    return this.#streams.size;
  }

  get bytesSent(): number {
    return this.#bytesSent;
  }

  get bytesReceived(): number {
    return this.#bytesReceived;
  }

  /**
   * Switches to v2 with the limits the server announced and the capabilities both sides speak;
   * only before any stream exists.
   */
  upgrade(limits: MultiplexerLimits, capabilities: readonly string[] = []): boolean {
    if (this.#streams.size > 0 || this.#version === 2) return false;
    this.#version = 2;
    this.#limits = limits;
    this.#trailers = capabilities.includes(Capability.trailers);
    return true;
  }

  /** The server's side of `upgrade`: a session made as v2 with the agreed capabilities. */
  enableCapabilities(capabilities: readonly string[]): void {
    if (this.#version === 2) this.#trailers = capabilities.includes(Capability.trailers);
  }

  /** Opens a stream from this side; undefined when the id is taken or the stream limit is reached. */
  open(id: string, openedHere = true): TunnelStream | undefined {
    if (this.#streams.has(id) || this.#streams.size >= this.#limits.maxStreams) return undefined;
    const stream = new TunnelStream(id, this, this.#limits.windowBytes, openedHere);
    this.#streams.set(id, stream);
    return stream;
  }

  countSent(bytes: number): void {
    this.#bytesSent += bytes;
    this.#options.onBodyBytes?.(bytes);
  }

  finished(stream: TunnelStream): void {
    if (this.#streams.get(stream.id) !== stream) return;
    this.#streams.delete(stream.id);
    this.#options.onStreamFinished?.(stream);
  }

  /** Delivers one incoming message (a batch is unpacked, one level only). */
  receive(envelope: Envelope): void | Promise<void> {
    if (envelope.payload.case === "batch") {
      let pending: Promise<void> | undefined;
      for (const inner of envelope.payload.value.frames) {
        if (inner.payload.case === "batch") {
          this.#options.onViolation("nested FrameBatch", undefined);
          continue;
        }
        const result = pending ? pending.then(() => this.#receiveOne(inner)) : this.#receiveOne(inner);
        if (result) pending = result;
      }
      return pending;
    }
    return this.#receiveOne(envelope);
  }

  /** The tunnel ended: every stream fails locally with `reason`. */
  failAll(reason: string): void {
    const streams = [...this.#streams.values()];
    this.#streams.clear();
    for (const stream of streams) {
      stream.fail(reason);
      this.#options.onStreamFinished?.(stream);
    }
  }

  #receiveOne(envelope: Envelope): void | Promise<void> {
    const payload = envelope.payload;
    switch (payload.case) {
      case "streamOpen":
        return this.#receiveOpen(payload.value);
      case "streamData": {
        const stream = this.#streams.get(payload.value.id);
        if (!stream) return;
        const { seq, data, more } = payload.value as DecodedStreamData;
        const before = stream.receivedBytes;
        const result = stream.receiveData(seq, data, more);
        const received = stream.receivedBytes - before; // 0 when the frame was refused
        this.#bytesReceived += received;
        this.#options.onBodyBytes?.(received);
        if (typeof result === "string") return this.#violate(stream, result);
        return result;
      }
      case "streamClose":
        this.#streams.get(payload.value.id)?.receiveClose(payload.value.error);
        return;
      case "streamCredit": {
        const stream = this.#streams.get(payload.value.id);
        const problem = stream?.receiveCredit(payload.value.bytes);
        if (stream && problem) this.#violate(stream, problem);
        return;
      }
      case "streamTrailers": {
        const { id, header } = payload.value;
        const stream = this.#streams.get(id);
        if (!this.#trailers) {
          // A peer that was never told it may send them: a rule broken, whatever the stream.
          if (stream) return this.#violate(stream, "StreamTrailers without the trailers capability");
          this.#options.onViolation("StreamTrailers without the trailers capability", undefined);
          return;
        }
        if (!stream) return;
        const problem = checkHeader(header, this.#limits) ?? stream.receiveTrailers(header);
        if (problem) this.#violate(stream, problem);
        return;
      }
      case "streamAck":
        return; // v1 acknowledgements carry nothing HopGate uses (PROTOCOL.md).
      case "batch":
        return; // unpacked by receive()
      case "tunnelAccept":
      case "ping":
      case "pong":
      case "drain":
      case "serverList":
        this.#options.onControl(envelope);
        return;
      case "httpRequest":
      case "httpResponse":
      case undefined:
        this.#options.onViolation(`unexpected message ${payload.case ?? "without payload"}`, undefined);
        return;
    }
  }

  #receiveOpen(open: StreamOpen): void {
    const existing = this.#streams.get(open.id);
    const headerProblem = checkHeader(open.header, this.#limits);
    if (existing) {
      const problem = headerProblem ?? existing.receiveOpen(open);
      if (problem) this.#violate(existing, problem);
      return;
    }
    const onRemoteOpen = this.#options.onRemoteOpen;
    if (!onRemoteOpen) {
      if (this.#options.finishedHere?.(open.id)) return;
      this.#options.onViolation(`StreamOpen for unknown stream "${open.id.slice(0, 64)}"`, open.id);
      return;
    }
    if (headerProblem || open.id === "" || open.id.length > 128) {
      this.#options.onViolation(headerProblem ?? "invalid stream id", open.id);
      this.outbound.push(frame.close(open.id, "refused: invalid StreamOpen"));
      return;
    }
    const stream = this.open(open.id, false);
    if (!stream) {
      this.#options.onViolation(`stream limit of ${this.#limits.maxStreams} reached`, open.id);
      this.outbound.push(frame.close(open.id, "refused: too many streams"));
      return;
    }
    onRemoteOpen(stream, open);
    stream.receiveOpen(open);
  }

  #violate(stream: TunnelStream, detail: string): void {
    this.#options.onViolation(detail, stream.id);
    stream.abort(`protocol violation: ${detail}`, true);
  }
}

/**
 * A name without values still counts as one entry of its length: otherwise a map of a hundred
 * thousand empty names would pass both limits and be walked by every consumer.
 */
function checkHeader(header: HeaderMap, limits: MultiplexerLimits): string | undefined {
  let count = 0;
  let bytes = 0;
  // for-in, not Object.entries: no array per entry on every request.
  for (const name in header) {
    const values = (header[name] as HeaderValues).values;
    count += Math.max(1, values.length);
    bytes += name.length * Math.max(1, values.length);
    for (const value of values) bytes += value.length;
    if (count > limits.maxHeaderCount) return `more than ${limits.maxHeaderCount} header entries`;
    if (bytes > limits.maxHeaderBytes) return `header map larger than ${limits.maxHeaderBytes} bytes`;
  }
  return undefined;
}
