import http, { type ClientRequest, type IncomingMessage } from "node:http";
import https from "node:https";
import type { Duplex } from "node:stream";
import type { ServiceSpec } from "../config/service-spec.js";
import { hopByHopNames } from "../protocol/hop-by-hop.js";
import { deliverChunk, pumpIntoStream } from "../protocol/stream-pump.js";
import type { StreamSink, TunnelStream } from "../protocol/tunnel-stream.js";
import {
  canonicalHeaderName,
  emptyFieldMap,
  headerValues,
  isWireHeader,
  WireHeader,
  type HeaderMap,
} from "../protocol/wire-headers.js";
import type { BackendAgents } from "./backend-agents.js";
import { isReplayable, type BackendRequestHead } from "./backend-request.js";
import { withHost } from "./host-header.js";
import { flatFields, forwardTrailers, type WithheldTrailer } from "./backend-trailers.js";
import { rawFieldMap, trailerFields } from "../protocol/trailer-fields.js";

export interface BackendExchangeRecord {
  readonly service: string;
  readonly method: string;
  readonly path: string;
  readonly status: number;
  readonly durationMs: number;
  readonly error: string | undefined;
  /** Request body bytes that came through the tunnel, and response body bytes sent back. */
  readonly bytesFromServer: number;
  readonly bytesToServer: number;
}

export interface BackendExchangeOptions {
  readonly stream: TunnelStream;
  readonly service: ServiceSpec;
  readonly head: BackendRequestHead;
  readonly version: 1 | 2;
  readonly agents: BackendAgents;
  readonly onFinished: (record: BackendExchangeRecord) => void;
  /** Sees the exchange's bodies and response head (the request inspector); none when omitted. */
  readonly tap?: ExchangeTap;
}

/** An observer of one exchange; it must not keep the chunks it is given beyond a copy. */
export interface ExchangeTap {
  requestChunk(chunk: Uint8Array): void;
  response(status: number, rawHeaders: readonly string[]): void;
  responseChunk(chunk: Uint8Array): void;
  /** The request's trailer fields as sent to the service, flat name/value. */
  requestTrailers(flat: readonly string[]): void;
  /**
   * The response's trailer fields (gRPC's grpc-status) as the backend sent them, flat
   * name/value, and those of them that were not passed on towards the visitor, and why.
   */
  responseTrailers(flat: readonly string[], withheld: readonly WithheldTrailer[]): void;
  finished(record: BackendExchangeRecord): void;
}

/**
 * One tunnel request answered by a local service: the request body streams into the backend as
 * it arrives (credit returned as the backend socket takes it), the response streams back. A
 * backend failure before the response becomes a 502 (v1: the Go client's 502 shape; v2: a
 * stream abort the server turns into its own page); after it, an abort, never a clean end.
 * Redirects are never followed; only the service's configured target is dialed. A request that
 * meets a pooled connection the backend was closing is sent once more on another when replaying
 * it is safe (see `#mayResend`).
 */
export class BackendExchange implements StreamSink {
  readonly #options: BackendExchangeOptions;
  #request: ClientRequest | undefined;
  readonly #startedAtMs = Date.now();
  #status = 0;
  #socket: Duplex | undefined;
  #pending: Uint8Array[] = [];
  #bodyStarted = false;
  /** What the declared Content-Length still allows; undefined without one. */
  #bodyBytesLeft: number | undefined;
  #done = false;
  #response: IncomingMessage | undefined;
  readonly #responseListener = (response: IncomingMessage) => this.#onResponse(response);
  readonly #upgradeListener = (response: IncomingMessage, socket: Duplex, rest: Buffer) =>
    this.#onUpgrade(response, socket, rest);
  readonly #errorListener = (error: NodeJS.ErrnoException) => this.#onError(error);
  readonly #responseErrorListener = (error: Error) => this.#finish(`backend: ${error.message}`);

  constructor(options: BackendExchangeOptions) {
    this.#options = options;
    options.stream.setSink(this);
    const framing = options.head.framing;
    this.#bodyBytesLeft = framing.t === "length" ? framing.bytes : undefined;
    // A v1 server never says whether a body of unknown length follows (v2 servers do), and node
    // would send one unframed: the backend would parse it as further requests. On v1, a request
    // without framing waits for its first body chunk (then chunked) or its end (no body).
    if (options.version === 2 || options.head.upgrade || framing.t !== "none") {
      this.#start(options.head.headers);
    }
  }

  #start(headers: string[]): ClientRequest {
    const { service, head } = this.#options;
    const secure = service.target.protocol === "https:";
    const request = (secure ? https : http).request({
      protocol: service.target.protocol,
      hostname: service.target.hostname.replace(/^\[|\]$/g, ""),
      port: service.target.port || (secure ? 443 : 80),
      method: head.method,
      path: head.path,
      headers: service.hostHeader === undefined ? headers : withHost(headers, service.hostHeader),
      setHost: false,
      agent: head.upgrade ? false : secure ? this.#options.agents.https : this.#options.agents.http,
      // Local services often use self-signed certificates, as with ngrok's upstream default;
      // a config file's service may ask for verification (the agent pools per TLS options).
      rejectUnauthorized: service.backendTls?.rejectUnauthorized ?? false,
      ...(service.backendTls?.ca === undefined ? {} : { ca: service.backendTls.ca }),
    });
    this.#request = request;
    if (service.responseTimeoutMs !== undefined) this.#armResponseTimeout(request, service.responseTimeoutMs);
    request.on("response", this.#responseListener);
    request.on("upgrade", this.#upgradeListener);
    request.on("error", this.#errorListener);
    if (head.upgrade) request.end();
    return request;
  }

  /** No response head within `timeoutMs`: the request fails like an unreachable service. */
  #armResponseTimeout(request: ClientRequest, timeoutMs: number): void {
    const timer = setTimeout(() => {
      const error: NodeJS.ErrnoException = new Error(`no response within ${timeoutMs} ms`);
      error.code = "response_timeout";
      request.destroy(error);
    }, timeoutMs);
    const clear = () => clearTimeout(timer);
    request.once("response", clear);
    request.once("upgrade", clear);
    request.once("close", clear);
  }

  head(): void {
    // The request head arrived with the StreamOpen that created this exchange.
  }

  data(chunk: Uint8Array): void | Promise<void> {
    const { stream, version } = this.#options;
    this.#options.tap?.requestChunk(chunk);
    if (this.#socket) return deliverChunk(this.#socket, chunk, stream, version);
    if (this.#options.head.upgrade) {
      this.#pending.push(chunk); // credit returns once the upgraded socket takes it
      return;
    }
    const framing = this.#options.head.framing;
    if (this.#bodyBytesLeft !== undefined) {
      if (chunk.length > this.#bodyBytesLeft) return this.#refuseBody("body longer than its Content-Length");
      this.#bodyBytesLeft -= chunk.length;
    } else if (framing.t === "none" && chunk.length > 0 && this.#request && !this.#bodyStarted) {
      // Started without framing (a v2 server said no body follows): these bytes would reach the
      // backend as the start of another request.
      return this.#refuseBody("body without Content-Length or chunked framing");
    }
    const request =
      this.#request ?? this.#start([...this.#options.head.headers, "Transfer-Encoding", "chunked"]);
    this.#bodyStarted = true;
    return deliverChunk(request, chunk, stream, version);
  }

  /**
   * The visitor's request trailers (StreamTrailers from the server), validated again here: an
   * HTTP/1.1 backend gets them only in a chunked body (node writes them with its last chunk).
   */
  trailers(header: HeaderMap): void {
    const trailers = trailerFields(header);
    if (!trailers.ok || trailers.count === 0 || this.#options.head.upgrade) return;
    if (this.#options.head.framing.t === "length") return;
    const request =
      this.#request ?? this.#start([...this.#options.head.headers, "Transfer-Encoding", "chunked"]);
    this.#bodyStarted = true;
    request.addTrailers(trailers.fields);
    this.#options.tap?.requestTrailers(flatFields(trailers.fields));
  }

  end(): void {
    if (this.#socket) return void this.#socket.end();
    if (this.#options.head.upgrade) return;
    if (this.#bodyBytesLeft) return this.#refuseBody("body shorter than its Content-Length");
    (this.#request ?? this.#start(this.#options.head.headers)).end();
  }

  /**
   * A request body that disagrees with its framing: the request is destroyed with its connection
   * (never returned to the pool with a backend parser out of step), the stream aborted.
   */
  #refuseBody(reason: string): void {
    const refusal = `refused: request ${reason}`;
    this.#options.stream.abort(refusal);
    this.abort(refusal);
  }

  abort(reason: string): void {
    this.#request?.destroy();
    this.#socket?.destroy();
    this.#finish(reason);
  }

  #onResponse(response: IncomingMessage): void {
    const { stream } = this.#options;
    this.#status = response.statusCode ?? 502;
    stream.sendOpen(this.#options.service.name, this.#responseHeader(this.#status, response.rawHeaders));
    const tap = this.#options.tap;
    if (tap) {
      tap.response(this.#status, response.rawHeaders);
      response.on("data", (chunk: Buffer) => tap.responseChunk(chunk));
    }
    pumpIntoStream(
      response,
      stream,
      "backend: response aborted",
      () => {
        this.#finish(undefined);
        // The response is complete: the rest of a request body is of no use to anyone. (v1
        // servers get no second StreamClose for a stream they may consider finished.)
        if (!stream.closed && this.#options.version === 2) stream.abort("response complete");
      },
      () => {
        // A chunked HTTP/1.1 body's trailer section, read by now (node parses it before `end`).
        if (response.rawTrailers.length === 0) return;
        const withheld = forwardTrailers(stream, rawFieldMap(response.rawTrailers));
        this.#options.tap?.responseTrailers(response.rawTrailers, withheld);
      },
    );
    this.#response = response;
    response.once("error", this.#responseErrorListener);
  }

  #onUpgrade(response: IncomingMessage, socket: Duplex, rest: Buffer): void {
    const { stream, version } = this.#options;
    this.#status = 101;
    this.#socket = socket;
    stream.sendOpen(this.#options.service.name, this.#responseHeader(101, response.rawHeaders, true));
    for (const chunk of this.#pending.splice(0)) void deliverChunk(socket, chunk, stream, version);
    socket.pause();
    void stream.write(rest).then((ok) => ok && pumpIntoStream(socket, stream, "backend: connection closed"));
    socket.once("close", () => this.#finish(undefined));
  }

  #onError(error: NodeJS.ErrnoException): void {
    if (this.#done) return;
    const failed = this.#request;
    if (failed && this.#mayResend(failed, error)) {
      this.#detachRequest(failed);
      // No body byte went out (#mayResend), so the failed request was started with the plain
      // head: a chunked start is always followed by its first chunk.
      const request = this.#start(this.#options.head.headers);
      if (failed.writableEnded) request.end();
      return;
    }
    const { stream, version } = this.#options;
    const reason = `backend: ${error.code ?? error.message}`;
    if (this.#status !== 0 || stream.closed) return this.#finish(reason);
    this.#status = 502;
    if (version === 1) {
      // What a v1 server expects from a failed local call (the Go client's shape).
      stream.sendOpen(this.#options.service.name, {
        [WireHeader.status]: headerValues(["502"]),
        "Content-Type": headerValues(["text/plain; charset=utf-8"]),
      });
      void stream
        .write(Buffer.from("bad gateway: local service unavailable\n"))
        .then(() => stream.abort(reason));
    } else {
      stream.abort(reason);
    }
    this.#finish(reason);
  }

  /**
   * Whether a failed request may be sent again: it went out on a reused keep-alive connection
   * that was reset before any response (the backend closed it while idle and likely never read
   * the request), no body byte has been written, and replaying is safe (RFC 9110 §9.2.2; the
   * same rule as Go's net/http). Each resend takes another pooled or a new connection, so the
   * retries end once the pool's stale connections are used up.
   */
  #mayResend(request: ClientRequest, error: NodeJS.ErrnoException): boolean {
    return (
      request.reusedSocket &&
      this.#status === 0 &&
      !this.#bodyStarted &&
      !this.#options.stream.closed &&
      (error.code === "ECONNRESET" || error.code === "EPIPE") &&
      isReplayable(this.#options.head)
    );
  }

  #responseHeader(status: number, rawHeaders: readonly string[], upgrade = false): HeaderMap {
    const connection: string[] = [];
    for (let i = 0; i < rawHeaders.length; i += 2) {
      if ((rawHeaders[i] as string).toLowerCase() === "connection")
        connection.push(rawHeaders[i + 1] as string);
    }
    const hopByHop = hopByHopNames(connection);
    // Inheriting nothing: a backend's header named "constructor" or "__proto__" is just a header.
    const map: HeaderMap = emptyFieldMap();
    map[WireHeader.status] = headerValues([String(status)]);
    for (let i = 0; i < rawHeaders.length; i += 2) {
      const lower = (rawHeaders[i] as string).toLowerCase();
      if (isWireHeader(lower) || (hopByHop.has(lower) && !(upgrade && lower === "upgrade"))) continue;
      const key = this.#options.version === 1 ? canonicalHeaderName(lower) : lower;
      const entry = map[key];
      if (entry) entry.values.push(rawHeaders[i + 1] as string);
      else map[key] = headerValues([rawHeaders[i + 1] as string]);
    }
    return map;
  }

  /**
   * node keeps a pooled connection's last request and response (its parser's `outgoing`) until
   * the connection's next request: once finished, they must not hold this exchange, its stream
   * and its buffers meanwhile, which would then be promoted to V8's old generation
   * (docs/performance.md, change 11). Late errors stay handled.
   */
  #detach(): void {
    if (this.#request) this.#detachRequest(this.#request);
    this.#response?.off("error", this.#responseErrorListener);
    this.#response?.on("error", ignoreLateError);
  }

  /** Also for a request given up for a resend: nothing it emits later reaches this exchange. */
  #detachRequest(request: ClientRequest): void {
    request.off("response", this.#responseListener);
    request.off("upgrade", this.#upgradeListener);
    request.off("error", this.#errorListener);
    request.on("error", ignoreLateError);
  }

  #finish(error: string | undefined): void {
    if (this.#done) return;
    this.#done = true;
    this.#detach();
    const record: BackendExchangeRecord = {
      service: this.#options.service.name,
      method: this.#options.head.method,
      path: this.#options.head.path,
      status: this.#status,
      durationMs: Date.now() - this.#startedAtMs,
      error,
      bytesFromServer: this.#options.stream.receivedBytes,
      bytesToServer: this.#options.stream.sentBytes,
    };
    this.#options.onFinished(record);
    this.#options.tap?.finished(record);
  }
}

function ignoreLateError(): void {
  // The exchange has finished: a late error of its request or response changes nothing.
}
