import { fromBinary, toBinary } from "@bufbuild/protobuf";
import type { Http2Stream } from "node:http2";
import { EnvelopeSchema, type Envelope } from "../../src/protocol/gen/hopgate/protocol/v1/tunnel_pb.js";

/** The tunnel method's HTTP/2 path (PROTOCOL.md). */
export const OPEN_TUNNEL_PATH = "/hopgate.protocol.v1.HopGateTunnel/OpenTunnel";

/** grpc-go's default limit for a received message; larger ones fail the call (RESOURCE_EXHAUSTED). */
export const GRPC_MAX_RECEIVE_BYTES = 4 * 1024 * 1024;

/** gRPC status codes used by the v1 peers (grpc/codes). */
export const GrpcStatus = {
  ok: 0,
  invalidArgument: 3,
  permissionDenied: 7,
  resourceExhausted: 8,
  unavailable: 14,
  unauthenticated: 16,
} as const;

/**
 * One Length-Prefixed-Message of gRPC over HTTP/2 (grpc/doc/PROTOCOL-HTTP2.md): a compressed
 * flag (0: the v1 peers never compress), a 4-byte big-endian length, the serialized Envelope.
 */
export function encodeGrpcMessage(envelope: Envelope): Buffer {
  const body = toBinary(EnvelopeSchema, envelope);
  const framed = Buffer.allocUnsafe(5 + body.length);
  framed.writeUInt8(0, 0);
  framed.writeUInt32BE(body.length, 1);
  framed.set(body, 5);
  return framed;
}

/**
 * Splits the DATA bytes of a gRPC stream into Envelopes, refusing what a grpc-go peer without
 * a registered decompressor refuses: compressed messages and messages over 4 MiB. Throws the
 * reason; the caller ends the call as grpc-go would.
 */
export class GrpcMessageReader {
  #pending: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Envelope[] {
    this.#pending = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
    const messages: Envelope[] = [];
    while (this.#pending.length >= 5) {
      const compressed = this.#pending.readUInt8(0);
      const length = this.#pending.readUInt32BE(1);
      if (compressed !== 0) throw new Error(`compressed message (flag ${compressed}) without grpc-encoding`);
      if (length > GRPC_MAX_RECEIVE_BYTES) {
        throw new Error(`received message larger than max (${length} vs. ${GRPC_MAX_RECEIVE_BYTES})`);
      }
      if (this.#pending.length < 5 + length) break;
      messages.push(fromBinary(EnvelopeSchema, this.#pending.subarray(5, 5 + length)));
      this.#pending = this.#pending.subarray(5 + length);
    }
    return messages;
  }

  /** Bytes of an incomplete message left when the stream ended (a truncated message). */
  get leftoverBytes(): number {
    return this.#pending.length;
  }
}

/**
 * Sends messages on `stream` one at a time, each waiting while the stream's buffer is full,
 * as grpc-go's `Send` under the Go peers' send mutex does. Resolves at once when the stream is gone.
 */
export function createMessageWriter(stream: Http2Stream): (envelope: Envelope) => Promise<void> {
  let tail = Promise.resolve();
  const write = async (envelope: Envelope): Promise<void> => {
    if (stream.destroyed || stream.writableEnded) return;
    if (stream.write(encodeGrpcMessage(envelope))) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        stream.off("drain", done);
        stream.off("close", done);
        resolve();
      };
      stream.on("drain", done);
      stream.on("close", done);
    });
  };
  return (envelope) => (tail = tail.then(() => write(envelope)));
}
