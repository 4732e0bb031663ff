import http2, { type ClientHttp2Stream, type IncomingHttpHeaders } from "node:http2";
import { deliverChunk, pumpIntoStream } from "../protocol/stream-pump.js";
import type { StreamSink } from "../protocol/tunnel-stream.js";
import {
  canonicalHeaderName,
  emptyFieldMap,
  headerValues,
  isWireHeader,
  WireHeader,
  type HeaderMap,
} from "../protocol/wire-headers.js";
import type { BackendExchangeOptions, BackendExchangeRecord } from "./backend-exchange.js";
import { flatFields, forwardTrailers } from "./backend-trailers.js";
import { trailerFields } from "../protocol/trailer-fields.js";
import { CONNECTION_SPECIFIC_FIELDS, flatHttp2Fields, http2RequestHeaders } from "./http2-fields.js";

/**
 * One tunnel request answered by an HTTP/2 service (`h2c://`, `h2://`: gRPC servers), on the
 * origin's shared connection (http2-origins.ts). As BackendExchange does for HTTP/1.1, the
 * request body streams in with credit and the response streams back; in addition the
 * response's trailer fields (gRPC's grpc-status, grpc-message) go back as StreamTrailers when
 * the server speaks the "trailers" capability. Upgrades (WebSocket) are refused: RFC 8441
 * extended CONNECT is not supported. A failure before the response head is a stream abort
 * (v2) or the Go client's 502 (v1), never a half-valid response.
 */
export class Http2BackendExchange implements StreamSink {
  readonly #options: BackendExchangeOptions;
  readonly #request: ClientHttp2Stream | undefined;
  readonly #startedAtMs = Date.now();
  #status = 0;
  #trailers: IncomingHttpHeaders | undefined;
  #requestTrailers: Record<string, string[]> | undefined;
  #done = false;

  constructor(options: BackendExchangeOptions) {
    this.#options = options;
    options.stream.setSink(this);
    if (!options.head.upgrade) {
      this.#request = this.#start();
      return;
    }
    this.#request = undefined;
    options.stream.abort("refused: upgrade to an HTTP/2 service");
    this.#finish("refused: upgrade to an HTTP/2 service");
  }

  #start(): ClientHttp2Stream | undefined {
    const { service, head } = this.#options;
    const headers = http2RequestHeaders(head, service);
    let request: ClientHttp2Stream;
    try {
      // Request trailers, if the visitor sends any, go last (the "wantTrailers" event below).
      request = this.#options.agents.http2.session(service).request(headers, { waitForTrailers: true });
    } catch (error) {
      // A connection already failing, or headers node refuses: as an unreachable service.
      queueMicrotask(() => this.#onError(error as NodeJS.ErrnoException));
      return undefined;
    }
    if (service.responseTimeoutMs !== undefined) {
      const timeoutMs = service.responseTimeoutMs;
      const timer = setTimeout(() => {
        const error: NodeJS.ErrnoException = new Error(`no response within ${timeoutMs} ms`);
        error.code = "response_timeout";
        request.destroy(error);
      }, timeoutMs);
      request.once("response", () => clearTimeout(timer));
      request.once("close", () => clearTimeout(timer));
    }
    request.once("response", (responseHeaders) => this.#onResponse(request, responseHeaders));
    request.once("trailers", (trailers: IncomingHttpHeaders) => (this.#trailers = trailers));
    request.on("error", (error: NodeJS.ErrnoException) => this.#onError(error));
    // An empty section ends the stream as node's own compatibility API does for every response.
    request.once("wantTrailers", () => request.sendTrailers(this.#requestTrailers ?? {}));
    return request;
  }

  head(): void {
    // The request head arrived with the StreamOpen that created this exchange.
  }

  data(chunk: Uint8Array): void | Promise<void> {
    this.#options.tap?.requestChunk(chunk);
    const request = this.#request;
    if (!request) return;
    return deliverChunk(request, chunk, this.#options.stream, this.#options.version);
  }

  /** The visitor's request trailers (StreamTrailers from the server), validated again here. */
  trailers(header: HeaderMap): void {
    const trailers = trailerFields(header);
    if (!trailers.ok || trailers.count === 0) return;
    this.#requestTrailers = trailers.fields;
    this.#options.tap?.requestTrailers(flatFields(trailers.fields));
  }

  end(): void {
    if (this.#request && !this.#request.destroyed) this.#request.end();
  }

  abort(reason: string): void {
    if (this.#request && !this.#request.destroyed) this.#request.close(http2.constants.NGHTTP2_CANCEL);
    this.#finish(reason);
  }

  #onResponse(request: ClientHttp2Stream, responseHeaders: IncomingHttpHeaders): void {
    const { stream, version, service } = this.#options;
    this.#status = Number(responseHeaders[":status"] ?? 502);
    const raw = flatHttp2Fields(responseHeaders);
    const map: HeaderMap = emptyFieldMap();
    map[WireHeader.status] = headerValues([String(this.#status)]);
    for (let i = 0; i < raw.length; i += 2) {
      const lower = raw[i] as string;
      if (isWireHeader(lower) || CONNECTION_SPECIFIC_FIELDS.has(lower)) continue;
      const key = version === 1 ? canonicalHeaderName(lower) : lower;
      const entry = map[key];
      if (entry) entry.values.push(raw[i + 1] as string);
      else map[key] = headerValues([raw[i + 1] as string]);
    }
    stream.sendOpen(service.name, map);
    const tap = this.#options.tap;
    if (tap) {
      tap.response(this.#status, raw);
      request.on("data", (chunk: Buffer) => tap.responseChunk(chunk));
    }
    pumpIntoStream(
      request,
      stream,
      "backend: response aborted",
      () => {
        this.#finish(undefined);
        if (!stream.closed && version === 2) stream.abort("response complete");
      },
      () => {
        if (!this.#trailers) return;
        const withheld = forwardTrailers(stream, fieldMapOf(this.#trailers));
        this.#options.tap?.responseTrailers(flatHttp2Fields(this.#trailers), withheld);
      },
    );
  }

  #onError(error: NodeJS.ErrnoException): void {
    if (this.#done) return;
    const { stream, version, service } = this.#options;
    const reason = `backend: ${error.code ?? error.message}`;
    if (this.#status !== 0 || stream.closed) return this.#finish(reason);
    this.#status = 502;
    if (version === 1) {
      stream.sendOpen(service.name, {
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

  #finish(error: string | undefined): void {
    if (this.#done) return;
    this.#done = true;
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

/** node's parsed trailers (names lowercased, repeats joined or listed) as a wire header map. */
function fieldMapOf(fields: IncomingHttpHeaders): HeaderMap {
  const map: HeaderMap = emptyFieldMap();
  for (const name in fields) {
    const value = fields[name];
    if (value === undefined) continue;
    map[name] = headerValues(Array.isArray(value) ? [...value] : [String(value)]);
  }
  return map;
}
