import { create, toBinary } from "@bufbuild/protobuf";
import http2 from "node:http2";
import {
  EnvelopeSchema,
  StreamOpenSchema,
  type Envelope,
  type StreamOpen,
  type TunnelAccept,
} from "../../src/protocol/gen/hopgate/protocol/v1/tunnel_pb.js";
import { frame } from "../../src/protocol/frames.js";
import { encodeHello } from "../../src/protocol/handshake.js";
import { headerValues, type HeaderMap } from "../../src/protocol/wire-headers.js";
import { GrpcMessageReader, OPEN_TUNNEL_PATH } from "./grpc-message.js";
import { v1Hello } from "./v1-go-client.js";

export interface HostilePeerOptions {
  /** The gateway's HTTPS port on 127.0.0.1. */
  readonly port: number;
  /** PEM the connection trusts. */
  readonly ca: string;
  readonly domain: string;
  readonly apiKey: string;
  /** 1: the Go client's hello (nothing announced); 2: the HopGate hello, answered by TunnelAccept. */
  readonly version: 1 | 2;
  /** v2 only: the client instance id (X-HopGate-Instance); none when omitted. */
  readonly instanceId?: string;
  /** v2 only: the capabilities announced (X-HopGate-Capability); every one HopGate speaks when omitted. */
  readonly capabilities?: readonly string[];
}

/** One request the server opened on the tunnel: its StreamOpen and, once complete, its body. */
export interface OpenedRequest {
  readonly open: StreamOpen;
  readonly id: string;
  /** Resolves with the request body when the server's StreamClose arrives. */
  readonly body: Promise<Buffer>;
}

export interface CallEnd {
  /** grpc-status of the call; undefined when it ended without one (reset, connection lost). */
  readonly grpcStatus: number | undefined;
  readonly grpcMessage: string;
  readonly rstCode: number;
}

/**
 * An authenticated tunnel client that speaks whatever the test tells it to: it opens the real
 * gRPC call (TLS, HTTP/2, the OpenTunnel path, application/grpc), sends a valid hello for a
 * registered domain, answers the server's pings (v2) and hands the server's request streams to
 * the test, which answers them with arbitrary Envelopes or raw bytes. Nothing it sends is checked.
 */
export class HostilePeer {
  readonly received: Envelope[] = [];
  /** Resolves once the tunnel is usable: TunnelAccept (v2) or, for v1, when the server acknowledged the hello's bytes. */
  readonly ready: Promise<TunnelAccept | undefined>;
  readonly ended: Promise<CallEnd>;
  readonly #session: http2.ClientHttp2Session;
  readonly #call: http2.ClientHttp2Stream;
  readonly #waiting: Array<(request: OpenedRequest) => void> = [];
  readonly #queued: OpenedRequest[] = [];
  readonly #bodies = new Map<string, { chunks: Buffer[]; done: (body: Buffer) => void }>();

  constructor(options: HostilePeerOptions) {
    this.#session = http2.connect(`https://127.0.0.1:${options.port}`, {
      ca: options.ca,
      servername: "gateway.test",
    });
    this.#session.on("error", () => {
      // Surfaces as the call's end.
    });
    this.#call = this.#session.request({
      ":method": "POST",
      ":path": OPEN_TUNNEL_PATH,
      ":authority": `gateway.test:${options.port}`,
      "content-type": "application/grpc",
      te: "trailers",
    });
    this.#call.on("error", () => {
      // The close event follows.
    });
    const hello =
      options.version === 1
        ? v1Hello(options.domain, options.apiKey, "127.0.0.1:1")
        : encodeHello({
            domain: options.domain,
            apiKey: options.apiKey,
            localTarget: "",
            services: [{ name: "web", pathPrefix: "/" }],
            clientVersion: "hostile/0",
            instanceId: options.instanceId,
            ...(options.capabilities && { capabilities: options.capabilities }),
          });
    this.send(hello);
    const { promise: accepted, resolve: accept } = Promise.withResolvers<TunnelAccept | undefined>();
    this.ready = accepted;
    if (options.version === 1) this.#session.ping(() => accept(undefined));
    this.ended = this.#read((envelope) => {
      if (envelope.payload.case === "tunnelAccept") accept(envelope.payload.value);
      else this.#receive(envelope);
    });
    void this.ended.then(() => accept(undefined));
  }

  /** The next request stream the server opens (already opened ones first). */
  nextRequest(): Promise<OpenedRequest> {
    const queued = this.#queued.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  /** Sends one Envelope as a well-formed gRPC message, whatever it contains. */
  send(envelope: Envelope): void {
    const body = toBinary(EnvelopeSchema, envelope);
    this.sendRaw(Buffer.concat([grpcPrefix(0, body.length), body]));
  }

  /** Sends bytes as they are, framing or not. */
  sendRaw(bytes: Uint8Array): void {
    if (!this.#call.destroyed && !this.#call.writableEnded) this.#call.write(bytes);
  }

  /** Half-closes the call (the peer's side of the stream ends). */
  end(): void {
    if (!this.#call.destroyed && !this.#call.writableEnded) this.#call.end();
  }

  get closed(): boolean {
    return this.#call.destroyed;
  }

  close(): void {
    this.#call.close(http2.constants.NGHTTP2_CANCEL);
    this.#session.destroy();
  }

  #receive(envelope: Envelope): void {
    this.received.push(envelope);
    const payload = envelope.payload;
    if (payload.case === "ping") return this.send(frame.pong(payload.value.nonce));
    if (payload.case === "batch") {
      for (const inner of payload.value.frames) this.#receive(inner);
      return;
    }
    if (payload.case === "streamOpen") {
      const { promise: body, resolve: done } = Promise.withResolvers<Buffer>();
      this.#bodies.set(payload.value.id, { chunks: [], done });
      const request = { open: payload.value, id: payload.value.id, body };
      const waiter = this.#waiting.shift();
      if (waiter) waiter(request);
      else this.#queued.push(request);
    } else if (payload.case === "streamData") {
      this.#bodies.get(payload.value.id)?.chunks.push(Buffer.from(payload.value.data));
    } else if (payload.case === "streamClose") {
      const entry = this.#bodies.get(payload.value.id);
      this.#bodies.delete(payload.value.id);
      entry?.done(Buffer.concat(entry.chunks));
    }
  }

  #read(onMessage: (envelope: Envelope) => void): Promise<CallEnd> {
    const reader = new GrpcMessageReader();
    let status: { code: number; message: string } | undefined;
    const takeStatus = (headers: http2.IncomingHttpHeaders) => {
      const code = headers["grpc-status"];
      if (typeof code === "string")
        status = { code: Number(code), message: String(headers["grpc-message"] ?? "") };
    };
    this.#call.on("response", takeStatus);
    this.#call.on("trailers", takeStatus);
    this.#call.on("data", (chunk: Buffer) => {
      for (const envelope of reader.push(chunk)) onMessage(envelope);
    });
    return new Promise((resolve) =>
      this.#call.once("close", () =>
        resolve({
          grpcStatus: status?.code,
          grpcMessage: decodeURIComponent(status?.message ?? ""),
          rstCode: this.#call.rstCode ?? 0,
        }),
      ),
    );
  }
}

/** A gRPC Length-Prefixed-Message prefix with any flags byte and any declared length. */
export function grpcPrefix(flags: number, length: number): Buffer {
  const prefix = Buffer.alloc(5);
  prefix.writeUInt8(flags, 0);
  prefix.writeUInt32BE(length >>> 0, 1);
  return prefix;
}

/** A whole gRPC message around arbitrary bytes (which need not be an Envelope). */
export function grpcMessage(body: Uint8Array): Buffer {
  return Buffer.concat([grpcPrefix(0, body.length), body]);
}

/** A response head as a client sends it: StreamOpen with X-HopGate-Status and the given fields. */
export function responseHead(
  id: string,
  status: string | undefined,
  fields: Record<string, string[]> = {},
): Envelope {
  const header = Object.create(null) as HeaderMap; // any name, "__proto__" included, is an entry
  for (const [name, values] of Object.entries(fields)) header[name] = headerValues(values);
  if (status !== undefined) header["X-HopGate-Status"] = headerValues([status]);
  return create(EnvelopeSchema, {
    payload: { case: "streamOpen", value: create(StreamOpenSchema, { id, serviceName: "web", header }) },
  });
}

/** A FrameBatch of `frames` (v2; a v1 server would not know it). */
export function batchOf(frames: Envelope[]): Envelope {
  return create(EnvelopeSchema, { payload: { case: "batch", value: { frames } } });
}
