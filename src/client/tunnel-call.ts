import http2 from "node:http2";
import type { Envelope } from "../protocol/gen/hopgate/protocol/v1/tunnel_pb.js";
import { OPEN_TUNNEL_PATH } from "../protocol/handshake.js";
import { GrpcCode, grpcStatus, statusFromHeaders, type GrpcStatus } from "../protocol/grpc-status.js";
import type { OutboundQueue } from "../protocol/outbound-queue.js";
import { TunnelReader } from "../protocol/tunnel-reader.js";
import { startTunnelWriter } from "../protocol/tunnel-writer.js";

export interface TunnelCallOptions {
  /** Opens the call's HTTP/2 stream (the tunnel's own connection). */
  readonly open: (headers: http2.OutgoingHttpHeaders) => Promise<http2.ClientHttp2Stream>;
  /** What this side sends, the handshake first. */
  readonly outbound: OutboundQueue;
  readonly maxMessageBytes: number;
  readonly onMessage: (envelope: Envelope) => void | Promise<void>;
  readonly signal: AbortSignal;
  readonly userAgent: string;
}

/**
 * The client side of the bidirectional `OpenTunnel` gRPC call, on node:http2 directly (grpc
 * PROTOCOL-HTTP2.md): the outbound queue is written as messages while the server's messages are
 * read and handed on. Resolves with the call's final status, which is never OK for a call that
 * broke (reset, lost connection, malformed message); never rejects.
 */
export async function runTunnelCall(options: TunnelCallOptions): Promise<GrpcStatus> {
  let stream: http2.ClientHttp2Stream;
  try {
    stream = await options.open({
      ":method": "POST",
      ":path": OPEN_TUNNEL_PATH,
      "content-type": "application/grpc+proto",
      te: "trailers",
      "user-agent": options.userAgent,
      "grpc-accept-encoding": "identity",
    });
  } catch (error) {
    return grpcStatus(GrpcCode.unavailable, error instanceof Error ? error.message : String(error));
  }
  return new Promise((resolve) => {
    let status: GrpcStatus | undefined;
    let problem: GrpcStatus | undefined;
    const fail = (code: number, message: string) => {
      problem ??= grpcStatus(code, message);
      if (!stream.destroyed) stream.close(http2.constants.NGHTTP2_CANCEL);
    };
    const onAbort = () => fail(GrpcCode.canceled, "tunnel closed by the client");
    if (options.signal.aborted) onAbort();
    options.signal.addEventListener("abort", onAbort, { once: true });
    stream.on("response", (headers) => {
      const httpStatus = Number(headers[":status"]);
      if (httpStatus !== 200) return fail(codeOfHttpStatus(httpStatus), `HTTP status ${httpStatus}`);
      const contentType = String(headers["content-type"] ?? "");
      if (!contentType.startsWith("application/grpc")) {
        return fail(GrpcCode.unknown, `unexpected content-type "${contentType.slice(0, 64)}"`);
      }
      status ??= statusFromHeaders(headers); // a Trailers-Only response
    });
    stream.on(
      "trailers",
      (trailers: http2.IncomingHttpHeaders & http2.IncomingHttpStatusHeader) =>
        (status ??= statusFromHeaders(trailers)),
    );
    stream.on("error", (error: Error) => fail(GrpcCode.unavailable, error.message));
    stream.once("close", () => {
      options.signal.removeEventListener("abort", onAbort);
      resolve(problem ?? status ?? grpcStatus(codeOfReset(stream.rstCode), "stream closed without a status"));
    });
    new TunnelReader(stream, options.maxMessageBytes, {
      message: options.onMessage,
      malformed: (error) => fail(GrpcCode.internal, `malformed message from the server: ${error.message}`),
      end: (truncated) => {
        if (truncated) fail(GrpcCode.internal, "the server's last message was cut off");
      },
    });
    startTunnelWriter(options.outbound, stream, () => stream.end());
  });
}

/** grpc doc/http-grpc-status-mapping.md */
function codeOfHttpStatus(status: number): number {
  if (status === 400) return GrpcCode.internal;
  if (status === 401) return GrpcCode.unauthenticated;
  if (status === 403) return GrpcCode.permissionDenied;
  if (status === 404) return GrpcCode.unimplemented;
  if (status === 429 || status === 502 || status === 503 || status === 504) return GrpcCode.unavailable;
  return GrpcCode.unknown;
}

/** grpc PROTOCOL-HTTP2.md, "Errors": RST_STREAM codes seen by a client. */
function codeOfReset(rstCode: number): number {
  const { NGHTTP2_REFUSED_STREAM, NGHTTP2_CANCEL, NGHTTP2_ENHANCE_YOUR_CALM } = http2.constants;
  if (rstCode === NGHTTP2_REFUSED_STREAM) return GrpcCode.unavailable;
  if (rstCode === NGHTTP2_CANCEL) return GrpcCode.canceled;
  if (rstCode === NGHTTP2_ENHANCE_YOUR_CALM) return GrpcCode.resourceExhausted;
  return GrpcCode.internal;
}
