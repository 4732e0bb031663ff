import { create } from "@bufbuild/protobuf";
import http from "node:http";
import http2 from "node:http2";
import type { TestContext } from "node:test";
import {
  EnvelopeSchema,
  StreamOpenSchema,
  type Envelope,
  type StreamOpen,
} from "../../src/protocol/gen/hopgate/protocol/v1/tunnel_pb.js";
import { frame } from "../../src/protocol/frames.js";
import { headerValues, type HeaderMap } from "../../src/protocol/wire-headers.js";
import { goLocalCall, goResponseHeader } from "./go-http-client.js";
import { createMessageWriter, GrpcMessageReader, OPEN_TUNNEL_PATH } from "./grpc-message.js";
import { tlsFixture } from "./tls-fixture.js";

export interface V1GoClientOptions {
  /** The server's HTTPS port on 127.0.0.1. */
  readonly port: number;
  /** Host part of HOP_CLIENT_SERVER_ADDR: TLS server name and :authority. */
  readonly serverName: string;
  /** PEM the connection trusts. */
  readonly ca: string;
  readonly domain: string;
  readonly apiKey: string;
  /** HOP_CLIENT_LOCAL_TARGET: host:port of the local HTTP service. */
  readonly localTarget: string;
  /** Replaces the hello (handshake tests); "none" half-closes the call without any message. */
  readonly hello?: Envelope | "none";
  /** Request header fields a front proxy would add (e.g. `x-forwarded-for`); none by default. */
  readonly proxyHeaders?: Readonly<Record<string, string>>;
}

export interface ServedRequest {
  readonly id: string;
  readonly method: string;
  readonly url: string;
  /** Status sent in X-HopGate-Status. */
  readonly status: number;
  /** StreamClose error sent: empty unless the local call failed. */
  readonly error: string;
}

export interface TunnelEnd {
  /** grpc-status of the call; undefined when the connection died without one. */
  readonly grpcStatus: number | undefined;
  readonly grpcMessage: string;
}

export interface V1GoClient {
  /** Every Envelope the server sent, in order. */
  readonly received: readonly Envelope[];
  /** HTTP/2 PINGs from the server (answered by the HTTP/2 layer, as grpc-go's transport does). */
  readonly pingsReceived: number;
  readonly served: readonly ServedRequest[];
  /** What grpc-go would have failed the call on: bad content-type, compressed or oversized message. */
  readonly wireErrors: readonly string[];
  /** The call ended; the Go client then exits (it never reconnects). */
  readonly ended: Promise<TunnelEnd>;
  close(): void;
}

/** The Go client's chunk size for response bodies (protocol.StreamChunkSize). */
const V1_CHUNK_BYTES = 4096;
/** Metadata keys the Go client strips before calling its backend. */
const METADATA_KEYS = new Set(["X-HopGate-Method", "X-HopGate-URL", "X-HopGate-Host", "X-HopGate-Status"]);

/** The standard v1 hello: control-0 with exactly these three header keys, nothing announced. */
export function v1Hello(domain: string, apiKey: string, localTarget: string): Envelope {
  const header: HeaderMap = {
    "X-HopGate-Domain": headerValues([domain]),
    "X-HopGate-API-Key": headerValues([apiKey]),
    "X-HopGate-Local-Target": headerValues([localTarget]),
  };
  const open = create(StreamOpenSchema, { id: "control-0", serviceName: "control", targetAddr: "", header });
  return create(EnvelopeSchema, { payload: { case: "streamOpen", value: open } });
}

/** startV1GoClient() against a startGateway() gateway: its port, the name "gateway.test", the test CA. */
export function startV1GoClientTo(
  t: TestContext,
  gateway: { readonly port: number },
  options: Omit<V1GoClientOptions, "port" | "serverName" | "ca">,
): V1GoClient {
  return startV1GoClient(t, {
    port: gateway.port,
    serverName: "gateway.test",
    ca: tlsFixture().cert,
    ...options,
  });
}

/**
 * A test peer that speaks exactly as the HopGate v1 Go client does (PROTOCOL.md, "v1 mode").
 *
 * It is written on raw `node:http2` with its own gRPC framing rather than a Connect client:
 * the v1 client is grpc-go, an implementation independent of the Connect library that HopGate
 * itself uses on both sides, so sharing Connect would hide any Connect-to-Connect leniency; raw
 * HTTP/2 also shows what grpc-go sees (PINGs, trailers, content-type, message size) and lets the
 * hello go out before any response header, as grpc-go's `stream.Send` does.
 *
 * One deliberate difference: the local call carries the Host from X-HopGate-Host. The Go
 * client itself dials with the local target as Host (net/http ignores a "Host" entry in
 * Request.Header, and it strips X-HopGate-Host), so its backends never see the visitor's Host.
 *
 * Connects, sends the hello at once (waiting for nothing) and serves requests until the call
 * ends; closed after the test.
 */
export function startV1GoClient(t: TestContext, options: V1GoClientOptions): V1GoClient {
  const received: Envelope[] = [];
  const served: ServedRequest[] = [];
  const wireErrors: string[] = [];
  const agent = new http.Agent({ keepAlive: true });
  const { session, call, pings } = openCall(options);
  const close = () => {
    call.close();
    session.destroy();
    agent.destroy();
  };
  t.after(close);
  const send = createMessageWriter(call);
  const hello = options.hello ?? v1Hello(options.domain, options.apiKey, options.localTarget);
  if (hello === "none") call.end();
  else void send(hello);
  const inbound = createInboundTable((open, body) => {
    void serveRequest(open, body, options.localTarget, agent, send).then((record) => served.push(record));
  });
  const ended = readCall(call, wireErrors, (envelope) => {
    received.push(envelope);
    inbound.receive(envelope);
  }).then((end) => {
    close(); // the Go client exits when its stream ends
    return end;
  });
  return {
    received,
    get pingsReceived() {
      return pings();
    },
    served,
    wireErrors,
    ended,
    close,
  };
}

/** The OpenTunnel call with grpc-go's request headers, on its own connection. */
function openCall(options: V1GoClientOptions) {
  let pings = 0;
  const session = http2.connect(`https://127.0.0.1:${options.port}`, {
    ca: options.ca,
    servername: options.serverName,
  });
  session.on("error", () => {
    // Surfaces as the call's end.
  });
  session.on("ping", () => pings++);
  const call = session.request({
    ":method": "POST",
    ":scheme": "https",
    ":path": OPEN_TUNNEL_PATH,
    ":authority": `${options.serverName}:${options.port}`,
    "content-type": "application/grpc",
    te: "trailers",
    "user-agent": "grpc-go/1.64.0",
    ...options.proxyHeaders,
  });
  return { session, call, pings: () => pings };
}

/** Reads the call's messages; resolves with its gRPC status when it ends. */
function readCall(
  call: http2.ClientHttp2Stream,
  wireErrors: string[],
  onMessage: (envelope: Envelope) => void,
): Promise<TunnelEnd> {
  const reader = new GrpcMessageReader();
  let status: { code: number; message: string } | undefined;
  const takeStatus = (headers: http2.IncomingHttpHeaders) => {
    const code = headers["grpc-status"];
    if (typeof code === "string") {
      status = { code: Number(code), message: decodeURIComponent(String(headers["grpc-message"] ?? "")) };
    }
  };
  call.on("response", (headers) => {
    const contentType = String(headers["content-type"] ?? "");
    if (headers[":status"] !== 200 || !contentType.startsWith("application/grpc")) {
      wireErrors.push(`response ${headers[":status"]} with content-type "${contentType}"`);
    }
    takeStatus(headers); // a trailers-only response carries the status in its only HEADERS
  });
  call.on("trailers", takeStatus);
  call.on("data", (chunk: Buffer) => {
    try {
      for (const envelope of reader.push(chunk)) onMessage(envelope);
    } catch (error) {
      wireErrors.push((error as Error).message);
      call.close(http2.constants.NGHTTP2_CANCEL);
    }
  });
  return new Promise((resolve) => {
    call.on("error", () => {
      // The close event follows.
    });
    call.on("close", () => {
      if (reader.leftoverBytes > 0) wireErrors.push(`${reader.leftoverBytes} bytes of a truncated message`);
      resolve({ grpcStatus: status?.code, grpcMessage: status?.message ?? "" });
    });
  });
}

/**
 * The Go client's per-stream table: a StreamOpen starts a request, StreamData is buffered,
 * StreamClose (with or without error) hands the whole body to the local call. Duplicates and
 * frames for unknown ids are ignored; so are StreamAck and seq.
 */
function createInboundTable(onComplete: (open: StreamOpen, body: Buffer) => void) {
  const streams = new Map<string, { open: StreamOpen; chunks: Buffer[] }>();
  return {
    receive(envelope: Envelope): void {
      const payload = envelope.payload;
      switch (payload.case) {
        case "streamOpen": {
          const id = payload.value.id.trim();
          if (id && !streams.has(id)) streams.set(id, { open: payload.value, chunks: [] });
          return;
        }
        case "streamData": {
          const entry = streams.get(payload.value.id.trim());
          if (entry && payload.value.data.length > 0) entry.chunks.push(Buffer.from(payload.value.data));
          return;
        }
        case "streamClose": {
          const id = payload.value.id.trim();
          const entry = streams.get(id);
          if (!entry) return;
          streams.delete(id);
          onComplete(entry.open, Buffer.concat(entry.chunks));
          return;
        }
        default:
          return; // StreamAck and anything unknown: logged and ignored by the Go client
      }
    },
  };
}

/** One request: the local call, then StreamOpen + 4 KiB StreamData chunks + StreamClose. */
async function serveRequest(
  open: StreamOpen,
  body: Buffer,
  localTarget: string,
  agent: http.Agent,
  send: (envelope: Envelope) => Promise<void>,
): Promise<ServedRequest> {
  const id = open.id.trim();
  const method = nonBlank(open.header["X-HopGate-Method"]?.values[0]) ?? "GET";
  const url = nonBlank(open.header["X-HopGate-URL"]?.values[0]) ?? "/";
  const host = open.header["X-HopGate-Host"]?.values[0];
  const header: HeaderMap = {};
  for (const [name, values] of Object.entries(open.header))
    if (!METADATA_KEYS.has(name)) header[name] = values;
  const respond = (responseHeader: HeaderMap) => send(responseOpen(open, id, responseHeader));
  let response: http.IncomingMessage;
  try {
    response = await goLocalCall(agent, { localTarget, method, url, host, header, body });
  } catch (error) {
    const message = `perform local http request: ${method} "http://${localTarget}${url}": ${(error as Error).message}`;
    await respond({
      "Content-Type": headerValues(["text/plain; charset=utf-8"]),
      "X-HopGate-Status": headerValues(["502"]),
    });
    await send(frame.data(id, 0n, Buffer.from(`HopGate client: ${message}`)));
    await send(frame.close(id, message));
    return { id, method, url, status: 502, error: message };
  }
  const status = response.statusCode || 200;
  await respond({
    ...goResponseHeader(response.rawHeaders),
    "X-HopGate-Status": headerValues([String(status)]),
  });
  await sendBody(id, response, send);
  await send(frame.close(id, ""));
  return { id, method, url, status, error: "" };
}

/** The response head echoes the request's service name and target address, as the Go client does. */
function responseOpen(request: StreamOpen, id: string, header: HeaderMap): Envelope {
  const { serviceName, targetAddr } = request;
  const open = create(StreamOpenSchema, { id, serviceName, targetAddr, header });
  return create(EnvelopeSchema, { payload: { case: "streamOpen", value: open } });
}

/** The body in chunks of exactly 4 KiB (the last one shorter), seq from 0. */
async function sendBody(id: string, body: AsyncIterable<Buffer>, send: (e: Envelope) => Promise<void>) {
  let seq = 0n;
  let pending: Buffer = Buffer.alloc(0);
  try {
    for await (const chunk of body) {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      while (pending.length >= V1_CHUNK_BYTES) {
        await send(frame.data(id, seq++, pending.subarray(0, V1_CHUNK_BYTES)));
        pending = pending.subarray(V1_CHUNK_BYTES);
      }
    }
  } catch {
    // The Go client stops reading on a body error and still ends the stream cleanly.
  }
  if (pending.length > 0) await send(frame.data(id, seq, pending));
}

function nonBlank(value: string | undefined): string | undefined {
  return value !== undefined && value.trim() !== "" ? value : undefined;
}
