import { create } from "@bufbuild/protobuf";
import { once } from "node:events";
import { writeFile } from "node:fs/promises";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import type { TestContext } from "node:test";
import {
  EnvelopeSchema,
  StreamAckSchema,
  type Envelope,
  type StreamOpen,
} from "../../src/protocol/gen/hopgate/protocol/v1/tunnel_pb.js";
import { frame } from "../../src/protocol/frames.js";
import { canonicalHeaderName, headerValues, type HeaderMap } from "../../src/protocol/wire-headers.js";
import { GrpcMessageReader, GrpcStatus, OPEN_TUNNEL_PATH } from "./grpc-message.js";
import { GrpcServerCall } from "./grpc-server-call.js";
import { tempDir } from "./temp-dir.js";
import { tlsFixture } from "./tls-fixture.js";

export interface V1GoServerOptions {
  /** Registered domains (lowercase) and their client keys; anything else is refused. */
  readonly credentials: Readonly<Record<string, string>>;
  /** Answer each response StreamData with a StreamAck, as the DTLS-era Go server did; v1 peers ignore it. */
  readonly acknowledgeData?: boolean;
}

export interface V1GoServer {
  readonly port: number;
  /** File with the certificate the server presents (for a client's --ca-file). */
  readonly caFile: string;
  /** The next tunnel whose handshake passed, in arrival order. */
  nextTunnel(): Promise<V1ServerTunnel>;
}

export interface V1ForwardRequest {
  readonly method: string;
  /** Path and query, as Go's `r.URL.String()` gives them for a server request. */
  readonly url: string;
  /** The visitor's Host (Go's `r.Host`). */
  readonly host: string;
  /** The visitor's other headers (Go's `r.Header`; keys are canonicalized here as Go does). */
  readonly header?: Readonly<Record<string, readonly string[]>>;
  readonly body?: Buffer;
}

export interface V1ForwardResponse {
  readonly status: number;
  /** The response StreamOpen's header map as received, X-HopGate-Status included. */
  readonly header: HeaderMap;
  readonly body: Buffer;
  /** StreamClose error; empty for a normal end. */
  readonly error: string;
  /** Every frame the client sent on this stream, in order. */
  readonly frames: readonly Envelope[];
}

export interface V1ServerTunnel {
  readonly hello: StreamOpen;
  /** Every message the client sent on this call, the hello first. */
  readonly received: readonly Envelope[];
  /** HTTP/2 PINGs received on the tunnel's connection. */
  readonly pingsReceived: number;
  /** Forwards one request as `http-<n>` and resolves with the client's whole response. */
  forward(request: V1ForwardRequest): Promise<V1ForwardResponse>;
  /** Sends any frame: for tests of what a v1 server never sends (a late TunnelAccept, say). */
  send(envelope: Envelope): Promise<void>;
  /** Ends the call with status OK, as the Go server does when it stops. */
  end(): void;
  /** Resolves when the call is gone (either side). */
  readonly closed: Promise<void>;
}

/** The v1 Go server's chunk size for request bodies (protocol.StreamChunkSize). */
const V1_CHUNK_BYTES = 4096;

/**
 * A test server that behaves like the HopGate v1 Go server (PROTOCOL.md, "v1 mode"): it checks
 * control-0, answers a good one with nothing at all (grpc-go sends no response HEADERS before
 * the first message), forwards requests as `http-<n>` streams with 4 KiB body chunks and
 * collects the responses, assuming 200 when X-HopGate-Status is missing. Raw `node:http2` and
 * hand-made gRPC framing, for the reasons given in v1-go-client.ts.
 */
export async function startV1GoServer(t: TestContext, options: V1GoServerOptions): Promise<V1GoServer> {
  const fixture = tlsFixture();
  const caFile = join(await tempDir(t), "v1-server.pem");
  await writeFile(caFile, fixture.cert);
  const server = http2.createSecureServer({ cert: fixture.cert, key: fixture.key });
  const { sessions, pingsOf } = trackSessions(server);
  const arrived: V1ServerTunnel[] = [];
  const waiting: Array<(tunnel: V1ServerTunnel) => void> = [];
  server.on("stream", (stream, headers) => {
    if (
      headers[":path"] !== OPEN_TUNNEL_PATH ||
      !String(headers["content-type"]).startsWith("application/grpc")
    ) {
      stream.respond({ ":status": 404 }, { endStream: true });
      return;
    }
    void acceptTunnel(stream, options, () => pingsOf(stream.session)).then((tunnel) => {
      if (!tunnel) return;
      const waiter = waiting.shift();
      if (waiter) waiter(tunnel);
      else arrived.push(tunnel);
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  t.after(
    () =>
      new Promise<void>((resolve) => {
        for (const session of sessions) session.destroy();
        server.close(() => resolve());
      }),
  );
  return {
    port: (server.address() as AddressInfo).port,
    caFile,
    nextTunnel: () => {
      const tunnel = arrived.shift();
      return tunnel ? Promise.resolve(tunnel) : new Promise((resolve) => waiting.push(resolve));
    },
  };
}

/** Open connections (to cut at the end) and the HTTP/2 PINGs each received. */
function trackSessions(server: http2.Http2SecureServer) {
  const sessions = new Set<http2.ServerHttp2Session>();
  const pings = new WeakMap<http2.Http2Session, number>();
  server.on("session", (session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
    session.on("error", () => {
      // The call's close follows.
    });
    session.on("ping", () => pings.set(session, (pings.get(session) ?? 0) + 1));
  });
  const pingsOf = (session: http2.Http2Session | undefined) => (session ? (pings.get(session) ?? 0) : 0);
  return { sessions, pingsOf };
}

/** Reads the first message as the Go server does; resolves with the tunnel, or undefined when refused. */
function acceptTunnel(
  stream: http2.ServerHttp2Stream,
  options: V1GoServerOptions,
  pingsReceived: () => number,
): Promise<V1ServerTunnel | undefined> {
  const call = new GrpcServerCall(stream);
  const reader = new GrpcMessageReader();
  return new Promise((resolve) => {
    let tunnel: ServerTunnel | undefined;
    let decided = false;
    const refuse = (code: number, message: string) => {
      decided = true;
      call.finish(code, message);
      resolve(undefined);
    };
    const onMessage = (envelope: Envelope) => {
      if (tunnel) return tunnel.receive(envelope);
      if (decided) return;
      const verdict = checkHello(envelope, options.credentials);
      if (!verdict.ok) return refuse(verdict.code, verdict.message);
      decided = true;
      tunnel = new ServerTunnel(call, verdict.hello, options.acknowledgeData ?? false, pingsReceived);
      tunnel.receive(envelope);
      resolve(tunnel);
    };
    stream.on("data", (chunk: Buffer) => {
      try {
        for (const envelope of reader.push(chunk)) onMessage(envelope);
      } catch (error) {
        call.finish(GrpcStatus.resourceExhausted, (error as Error).message);
      }
    });
    stream.on("end", () => {
      if (!decided) refuse(GrpcStatus.invalidArgument, "stream closed before handshake");
      else call.finish(GrpcStatus.ok, ""); // Recv got io.EOF: OpenTunnel returns nil
    });
    stream.on("error", () => {
      // The close event follows.
    });
    stream.on("close", () => {
      if (!decided) resolve(undefined);
      tunnel?.gone();
    });
  });
}

function checkHello(
  envelope: Envelope,
  credentials: Readonly<Record<string, string>>,
): { ok: true; hello: StreamOpen } | { ok: false; code: number; message: string } {
  if (envelope.payload.case !== "streamOpen") {
    return { ok: false, code: GrpcStatus.invalidArgument, message: "first message must be stream_open" };
  }
  const open = envelope.payload.value;
  const domain = (open.header["X-HopGate-Domain"]?.values[0] ?? "").trim().toLowerCase();
  const apiKey = (open.header["X-HopGate-API-Key"]?.values[0] ?? "").trim();
  if (!domain || !apiKey) {
    return { ok: false, code: GrpcStatus.unauthenticated, message: "missing domain or api key" };
  }
  if (credentials[domain] !== apiKey) {
    return { ok: false, code: GrpcStatus.permissionDenied, message: "invalid domain or api key" };
  }
  return { ok: true, hello: open };
}

interface PendingResponse {
  status: number;
  header: HeaderMap;
  chunks: Buffer[];
  frames: Envelope[];
  resolve: (response: V1ForwardResponse) => void;
  reject: (error: Error) => void;
}

class ServerTunnel implements V1ServerTunnel {
  readonly hello: StreamOpen;
  readonly received: Envelope[] = [];
  readonly closed: Promise<void>;
  readonly #call: GrpcServerCall;
  readonly #acknowledge: boolean;
  readonly #pings: () => number;
  readonly #pending = new Map<string, PendingResponse>();
  #next = 0;
  #gone = false;

  constructor(call: GrpcServerCall, hello: StreamOpen, acknowledge: boolean, pings: () => number) {
    this.#call = call;
    this.hello = hello;
    this.#acknowledge = acknowledge;
    this.#pings = pings;
    this.closed = new Promise((resolve) => call.stream.once("close", () => resolve()));
  }

  get pingsReceived(): number {
    return this.#pings();
  }

  async forward(request: V1ForwardRequest): Promise<V1ForwardResponse> {
    if (this.#gone) throw new Error("tunnel closed");
    const id = `http-${this.#next++}`;
    const header: HeaderMap = {};
    for (const [name, values] of Object.entries(request.header ?? {})) {
      const key = canonicalHeaderName(name);
      header[key] = headerValues([...(header[key]?.values ?? []), ...values]);
    }
    header["X-HopGate-Method"] = headerValues([request.method]);
    header["X-HopGate-URL"] = headerValues([request.url]);
    header["X-HopGate-Host"] = headerValues([request.host]);
    const response = new Promise<V1ForwardResponse>((resolve, reject) =>
      this.#pending.set(id, { status: 200, header: {}, chunks: [], frames: [], resolve, reject }),
    );
    await this.#call.send(frame.open(id, "web", header));
    const body = request.body ?? Buffer.alloc(0);
    let seq = 0n;
    for (let offset = 0; offset < body.length; offset += V1_CHUNK_BYTES) {
      await this.#call.send(frame.data(id, seq++, body.subarray(offset, offset + V1_CHUNK_BYTES)));
    }
    await this.#call.send(frame.close(id, ""));
    return response;
  }

  send(envelope: Envelope): Promise<void> {
    return this.#call.send(envelope);
  }

  end(): void {
    this.#call.finish(GrpcStatus.ok, "");
  }

  receive(envelope: Envelope): void {
    this.received.push(envelope);
    const payload = envelope.payload;
    if (payload.case !== "streamOpen" && payload.case !== "streamData" && payload.case !== "streamClose")
      return;
    const pending = this.#pending.get(payload.value.id);
    if (!pending) return; // unknown stream: logged and skipped by the Go server
    pending.frames.push(envelope);
    if (payload.case === "streamOpen") {
      // Go: strconv.Atoi of the first value, 200 when missing, malformed or not positive.
      const text = payload.value.header["X-HopGate-Status"]?.values[0] ?? "200";
      const status = /^[+-]?\d+$/.test(text) ? Number(text) : 0;
      pending.status = status > 0 ? status : 200;
      pending.header = payload.value.header;
    } else if (payload.case === "streamData") {
      pending.chunks.push(Buffer.from(payload.value.data));
      if (this.#acknowledge) void this.#call.send(ack(payload.value.id, payload.value.seq));
    } else {
      this.#pending.delete(payload.value.id);
      pending.resolve({
        status: pending.status,
        header: pending.header,
        body: Buffer.concat(pending.chunks),
        error: payload.value.error,
        frames: pending.frames,
      });
    }
  }

  gone(): void {
    this.#gone = true;
    for (const pending of this.#pending.values()) pending.reject(new Error("tunnel closed"));
    this.#pending.clear();
  }
}

function ack(id: string, ackSeq: bigint): Envelope {
  return create(EnvelopeSchema, {
    payload: { case: "streamAck", value: create(StreamAckSchema, { id, ackSeq, lostSeqs: [] }) },
  });
}
