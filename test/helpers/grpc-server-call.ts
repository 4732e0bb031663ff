import type http2 from "node:http2";
import type { Envelope } from "../../src/protocol/gen/hopgate/protocol/v1/tunnel_pb.js";
import { createMessageWriter } from "./grpc-message.js";

/**
 * The server side of one gRPC call as grpc-go serves it: no response HEADERS before the first
 * message, the status in trailers (or in a trailers-only response when nothing was sent).
 */
export class GrpcServerCall {
  readonly stream: http2.ServerHttp2Stream;
  readonly #write: (envelope: Envelope) => Promise<void>;
  #lastWrite: Promise<void> = Promise.resolve();
  #headersSent = false;

  constructor(stream: http2.ServerHttp2Stream) {
    this.stream = stream;
    this.#write = createMessageWriter(stream);
  }

  send(envelope: Envelope): Promise<void> {
    const stream = this.stream;
    if (stream.destroyed || stream.writableEnded) return Promise.resolve();
    if (!this.#headersSent) {
      this.#headersSent = true;
      stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
    }
    return (this.#lastWrite = this.#write(envelope));
  }

  /** Ends the call with a gRPC status once the messages already sent are written. */
  finish(code: number, message: string): void {
    void this.#lastWrite.then(() => this.#finishNow(code, message));
  }

  #finishNow(code: number, message: string): void {
    const stream = this.stream;
    if (stream.destroyed || stream.writableEnded) return;
    const status = { "grpc-status": String(code), "grpc-message": encodeURIComponent(message) };
    if (!this.#headersSent) {
      this.#headersSent = true;
      stream.respond({ ":status": 200, "content-type": "application/grpc", ...status }, { endStream: true });
      return;
    }
    stream.once("wantTrailers", () => stream.sendTrailers(status));
    stream.end();
  }
}
