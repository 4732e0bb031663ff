import type { Http2Stream } from "node:http2";
import { decodeEnvelope } from "./envelope-decoder.js";
import type { Envelope } from "./gen/hopgate/protocol/v1/tunnel_pb.js";
import { GrpcMessageReader } from "./grpc-message-reader.js";
import { decodeSplitEnvelope } from "./split-message-decoder.js";

export interface TunnelReaderHandlers {
  /**
   * One incoming Envelope. A returned promise (v1 backpressure, see StreamSink.data) holds
   * every later message, and the HTTP/2 stream, until it settles.
   */
  message(envelope: Envelope): void | Promise<void>;
  /** Framing or protobuf was malformed: the tunnel cannot continue. */
  malformed(error: Error): void;
  /** The peer ended its side; `truncated` when it stopped in the middle of a message. */
  end(truncated: boolean): void;
}

/**
 * Reads a tunnel's gRPC messages from its HTTP/2 stream and hands them on, in order, as decoded
 * Envelopes. `hold()` stops the hand-over (and reading, so HTTP/2 flow control pushes back)
 * until `release()`: the server holds a tunnel's frames while it checks the handshake.
 */
export class TunnelReader {
  readonly #stream: Http2Stream;
  readonly #handlers: TunnelReaderHandlers;
  readonly #messages: GrpcMessageReader;
  readonly #backlog: Envelope[] = [];
  #holds = 0;
  #ended = false;
  #endReported = false;
  #failed = false;

  constructor(stream: Http2Stream, maxMessageBytes: number, handlers: TunnelReaderHandlers) {
    this.#stream = stream;
    this.#handlers = handlers;
    this.#messages = new GrpcMessageReader(maxMessageBytes);
    const onMessage = (parts: Buffer[]) => this.#onMessage(parts);
    stream.on("data", (chunk: Buffer) => {
      if (this.#failed) return;
      try {
        this.#messages.push(chunk, onMessage);
      } catch (error) {
        this.#fail(error);
      }
    });
    stream.once("end", () => {
      this.#ended = true;
      this.#drain();
    });
  }

  hold(): void {
    this.#holds++;
    this.#stream.pause();
  }

  release(): void {
    if (this.#holds === 0) return;
    this.#holds--;
    this.#drain();
  }

  #onMessage(parts: Buffer[]): void {
    if (this.#failed) return;
    let envelope: Envelope;
    try {
      envelope = parts.length === 1 ? decodeEnvelope(parts[0] as Buffer) : decodeSplitEnvelope(parts);
    } catch (error) {
      return this.#fail(error);
    }
    if (this.#holds > 0 || this.#backlog.length > 0) this.#backlog.push(envelope);
    else this.#deliver(envelope);
  }

  /**
   * A handler that throws ends the tunnel like malformed input would: from a backlog drained by
   * `release()` in a promise callback, the error would otherwise be an unhandled rejection and
   * take the whole process down.
   */
  #deliver(envelope: Envelope): void {
    let pending: void | Promise<void>;
    try {
      pending = this.#handlers.message(envelope);
    } catch (error) {
      return this.#fail(error);
    }
    if (!pending) return;
    this.hold();
    void pending.then(
      () => this.release(),
      (error: unknown) => this.#fail(error),
    );
  }

  #drain(): void {
    while (this.#holds === 0 && !this.#failed && this.#backlog.length > 0) {
      this.#deliver(this.#backlog.shift() as Envelope);
    }
    if (this.#holds > 0 || this.#failed || this.#endReported) return;
    if (this.#ended) {
      this.#endReported = true;
      this.#handlers.end(this.#messages.partial);
    } else {
      this.#stream.resume();
    }
  }

  #fail(error: unknown): void {
    if (this.#failed) return;
    this.#failed = true;
    this.#backlog.length = 0;
    this.#handlers.malformed(error instanceof Error ? error : new Error(String(error)));
  }
}
