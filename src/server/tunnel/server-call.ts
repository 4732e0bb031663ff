import http2, { type ServerHttp2Stream } from "node:http2";
import { GrpcCode, grpcStatus, statusTrailers, type GrpcStatus } from "../../protocol/grpc-status.js";
import { OPEN_TUNNEL_PATH } from "../../protocol/handshake.js";

/**
 * The server side of one gRPC call on node:http2 (grpc PROTOCOL-HTTP2.md): response headers
 * once the call is accepted, the status in trailers at the end, or alone in a Trailers-Only
 * response when the call is refused before any message.
 */
export class ServerCall {
  readonly #stream: ServerHttp2Stream;
  #headersSent = false;
  #finished = false;

  constructor(stream: ServerHttp2Stream) {
    this.#stream = stream;
    // The call owns its stream: the compatibility response that node's HTTP/2 server made for
    // the dispatch would answer "wantTrailers" with its own empty trailers, before ours.
    stream.removeAllListeners("wantTrailers");
    // A stream the peer reset or the session tore down emits "error" before "close"; the call
    // learns of its end from "close" (and `finished`). Unheard, the error would take the
    // process down: a call served without node's compatibility layer has no other listener.
    stream.on("error", ignoreStreamError);
  }

  get finished(): boolean {
    return this.#finished || this.#stream.destroyed;
  }

  /** Sends the response headers; messages may follow, the status comes in trailers. */
  accept(): void {
    if (this.#headersSent || this.finished) return;
    this.#headersSent = true;
    this.#stream.respond(
      { ":status": 200, "content-type": "application/grpc+proto", "grpc-accept-encoding": "identity" },
      { waitForTrailers: true },
    );
  }

  /** Ends the call with `status` after everything written so far. */
  finish(status: GrpcStatus): void {
    if (this.finished) return;
    this.#finished = true;
    const trailers = statusTrailers(status);
    if (!this.#headersSent) {
      this.#headersSent = true;
      this.#stream.respond(
        { ":status": 200, "content-type": "application/grpc+proto", ...trailers },
        { endStream: true },
      );
      this.#endRequestSide();
      return;
    }
    this.#stream.once("wantTrailers", () => {
      this.#stream.sendTrailers(trailers);
      this.#endRequestSide();
    });
    this.#stream.end();
  }

  /**
   * RFC 9113 §8.1: a server that has sent its complete response may end the request side with
   * RST_STREAM(NO_ERROR), as gRPC servers do; a client still sending would otherwise keep the
   * stream open. Done once the status has gone out (the next turn of the event loop, after
   * the session's own write), so that the reset never overtakes it.
   */
  #endRequestSide(): void {
    setImmediate(() => {
      if (!this.#stream.destroyed && !this.#stream.readableEnded) {
        this.#stream.close(http2.constants.NGHTTP2_NO_ERROR);
      }
    });
  }
}

function ignoreStreamError(): void {}

/** Why a request to the tunnel path is not a gRPC call HopGate serves, as a status; or undefined. */
export function refuseCall(
  path: string,
  headers: Record<string, string | string[] | undefined>,
): GrpcStatus | undefined {
  if (path !== OPEN_TUNNEL_PATH) return grpcStatus(GrpcCode.unimplemented, "unknown method");
  if (headers[":method"] !== "POST") return grpcStatus(GrpcCode.unimplemented, "gRPC requires POST");
  const encoding = headers["grpc-encoding"];
  if (encoding !== undefined && encoding !== "identity") {
    // We announce only identity (grpc-accept-encoding); a client must not compress.
    return grpcStatus(
      GrpcCode.unimplemented,
      `grpc-encoding "${String(encoding).slice(0, 32)}" is not supported`,
    );
  }
  return undefined;
}
