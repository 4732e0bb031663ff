import { STATUS_CODES, type OutgoingHttpHeaders } from "node:http";
import type { Duplex } from "node:stream";
import type { HopGateErrorCode } from "../../lib/hopgate-error.js";
import type { StreamOpen } from "../../protocol/gen/hopgate/protocol/v1/tunnel_pb.js";
import { deliverChunk, pumpIntoStream } from "../../protocol/stream-pump.js";
import type { AbortCause, StreamSink, TunnelStream } from "../../protocol/tunnel-stream.js";
import type { HeaderMap } from "../../protocol/wire-headers.js";
import type { TunnelSession } from "../tunnel/session.js";
import { accessRecordOf } from "./access-record.js";
import { errorPage } from "./error-response.js";
import type { ExchangeContext } from "./proxied-exchange.js";
import { parseResponseHead } from "./response-head.js";
import type { VisitorRequest } from "./visitor.js";

/**
 * An HTTP/1.1 upgrade (WebSocket) carried over a tunnel stream (PROTOCOL.md v2 item 4): the
 * request head goes as usual; once the backend answers 101, the visitor's socket and the
 * backend's are joined as one bidirectional byte stream, with credit in both directions. A
 * non-101 answer is passed on as an ordinary response that ends with the connection.
 */
export class UpgradeExchange implements StreamSink {
  readonly #req: VisitorRequest;
  readonly #socket: Duplex;
  readonly #stream: TunnelStream;
  readonly #session: TunnelSession;
  readonly #context: ExchangeContext;
  #timer: NodeJS.Timeout | undefined;
  #status = 0;
  #done = false;

  constructor(
    req: VisitorRequest,
    socket: Duplex,
    stream: TunnelStream,
    session: TunnelSession,
    context: ExchangeContext,
  ) {
    this.#req = req;
    this.#socket = socket;
    this.#stream = stream;
    this.#session = session;
    this.#context = context;
    stream.setSink(this);
  }

  start(serviceName: string, header: HeaderMap, head: Buffer): void {
    this.#stream.sendOpen(serviceName, header);
    this.#timer = setTimeout(() => {
      this.#stream.abort("timeout: no response head in time");
      this.#fail("timeout");
    }, this.#context.proxyTimeoutMs);
    // Bytes the visitor sent right after its request head go first, then the socket's.
    this.#socket.pause();
    void this.#stream.write(head).then((ok) => {
      if (ok) pumpIntoStream(this.#socket, this.#stream, "canceled: visitor closed the connection");
    });
    this.#socket.once("close", () => {
      if (this.#done) return;
      this.#stream.abort("canceled: visitor closed the connection");
      this.#finish("client_abort");
    });
  }

  head(open: StreamOpen): void {
    clearTimeout(this.#timer);
    if (this.#status !== 0) return;
    const head = parseResponseHead(open, true);
    if (!head.ok) return this.#session.streamViolation(this.#stream, this, head.problem);
    this.#status = head.status;
    const extra: OutgoingHttpHeaders = head.upgrade
      ? { connection: "Upgrade", upgrade: head.upgrade }
      : { connection: "close" };
    this.#socket.write(responseHead(head.status, { ...head.headers, ...extra }));
  }

  data(chunk: Uint8Array): void | Promise<void> {
    if (this.#status === 0) return;
    return deliverChunk(this.#socket, chunk, this.#stream, this.#session.version);
  }

  end(): void {
    clearTimeout(this.#timer);
    if (this.#status === 0)
      return this.#session.streamViolation(this.#stream, this, "stream ended without a response head");
    this.#socket.end();
    this.#finish(undefined);
  }

  abort(_reason: string, cause: AbortCause): void {
    clearTimeout(this.#timer);
    const code: HopGateErrorCode =
      cause === "tunnel_closed"
        ? "tunnel_closed"
        : cause === "violation"
          ? "protocol_violation"
          : "backend_failed";
    if (this.#status === 0) return this.#fail(code);
    this.#socket.destroy();
    this.#finish(code);
  }

  #fail(code: HopGateErrorCode): void {
    if (this.#done) return;
    const page = errorPage(code, this.#context.requestId, this.#req.headers.accept);
    this.#status = page.status;
    this.#socket.end(responseHead(page.status, { ...page.headers, connection: "close" }) + page.body);
    this.#finish(code);
  }

  #finish(error: HopGateErrorCode | "client_abort" | undefined): void {
    if (this.#done) return;
    clearTimeout(this.#timer);
    this.#done = true;
    this.#context.onFinished(
      accessRecordOf(this.#req, this.#context, {
        status: this.#status,
        bytesIn: this.#stream.sentBytes,
        bytesOut: this.#stream.receivedBytes,
        sessionId: this.#session.id,
        error,
      }),
    );
  }
}

/** An HTTP/1.1 status line and header block, written straight to an upgraded socket. */
export function responseHead(status: number, headers: OutgoingHttpHeaders): string {
  let out = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? "Unknown"}\r\n`;
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    for (const line of Array.isArray(value) ? value : [value]) out += `${name}: ${String(line)}\r\n`;
  }
  return `${out}\r\n`;
}
