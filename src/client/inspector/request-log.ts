import type { ServiceSpec } from "../../config/service-spec.js";
import type { BackendExchangeRecord, ExchangeTap } from "../backend-exchange.js";
import type { BackendRequestHead } from "../backend-request.js";
import type { WithheldTrailer } from "../backend-trailers.js";
import { CapturedBody } from "./captured-body.js";

/** One request through the client, as the inspector shows it. */
export interface LoggedRequest {
  readonly id: number;
  readonly domain: string;
  readonly service: string;
  /** The service's origin, where a replay is sent. */
  readonly target: ServiceSpec;
  readonly method: string;
  readonly path: string;
  /** Flat name/value list as sent to the service. */
  readonly requestHeaders: readonly string[];
  readonly requestBody: CapturedBody;
  readonly startedAtMs: number;
  /** Set for a replay: the id of the request it re-sent. */
  readonly replayOf: number | undefined;
  status: number | undefined;
  responseHeaders: readonly string[];
  readonly responseBody: CapturedBody;
  durationMs: number | undefined;
  error: string | undefined;
  /** Trailer fields, flat name/value: the request's as sent, the response's (grpc-status). */
  requestTrailers: readonly string[];
  responseTrailers: readonly string[];
  /**
   * The response trailer fields above that the visitor never got, because this client did not
   * pass them on to the server (backend-trailers.ts); empty for a replay, which has no visitor.
   */
  withheldResponseTrailers: readonly WithheldTrailer[];
}

export interface RequestLogOptions {
  /** Requests kept; the oldest is forgotten first. */
  readonly maxRequests: number;
  /** Bytes kept of each request and each response body. */
  readonly maxBodyBytes: number;
}

export type RequestLogEvent = { readonly t: "started" | "finished"; readonly request: LoggedRequest };

/**
 * The last `maxRequests` requests through this client with their heads and capped bodies:
 * memory stays under about maxRequests × 2 × maxBodyBytes plus the heads. Listeners hear of
 * each request when it starts and when it finishes.
 */
export class RequestLog {
  readonly #options: RequestLogOptions;
  readonly #requests = new Map<number, LoggedRequest>();
  readonly #listeners = new Set<(event: RequestLogEvent) => void>();
  #nextId = 1;

  constructor(options: RequestLogOptions) {
    this.#options = options;
  }

  get maxBodyBytes(): number {
    return this.#options.maxBodyBytes;
  }

  /** Newest first. */
  list(): LoggedRequest[] {
    return [...this.#requests.values()].reverse();
  }

  get(id: number): LoggedRequest | undefined {
    return this.#requests.get(id);
  }

  subscribe(listener: (event: RequestLogEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Records a request that starts now; returns its entry to be completed by `finish`. */
  start(
    entry: Omit<
      LoggedRequest,
      | "id"
      | "startedAtMs"
      | "status"
      | "responseHeaders"
      | "responseBody"
      | "durationMs"
      | "error"
      | "requestTrailers"
      | "responseTrailers"
      | "withheldResponseTrailers"
    >,
  ): LoggedRequest {
    const request: LoggedRequest = {
      ...entry,
      id: this.#nextId++,
      startedAtMs: Date.now(),
      status: undefined,
      responseHeaders: [],
      responseBody: new CapturedBody(this.#options.maxBodyBytes),
      durationMs: undefined,
      error: undefined,
      requestTrailers: [],
      responseTrailers: [],
      withheldResponseTrailers: [],
    };
    this.#requests.set(request.id, request);
    for (const id of this.#requests.keys()) {
      if (this.#requests.size <= this.#options.maxRequests) break;
      this.#requests.delete(id);
    }
    this.#emit({ t: "started", request });
    return request;
  }

  finish(
    request: LoggedRequest,
    result: { status: number; durationMs: number; error: string | undefined },
  ): void {
    request.status = result.status;
    request.durationMs = result.durationMs;
    request.error = result.error;
    this.#emit({ t: "finished", request });
  }

  /** The tap that records one exchange of `domain` through the tunnel. */
  tap(domain: string, head: BackendRequestHead, service: ServiceSpec): ExchangeTap {
    const request = this.start({
      domain,
      service: service.name,
      target: service,
      method: head.method,
      path: head.path,
      requestHeaders: head.headers,
      requestBody: new CapturedBody(this.#options.maxBodyBytes),
      replayOf: undefined,
    });
    return {
      requestChunk: (chunk) => request.requestBody.add(chunk),
      response: (status, rawHeaders) => {
        request.status = status;
        request.responseHeaders = [...rawHeaders];
      },
      responseChunk: (chunk) => request.responseBody.add(chunk),
      requestTrailers: (flat) => (request.requestTrailers = [...flat]),
      responseTrailers: (flat, withheld) => {
        request.responseTrailers = [...flat];
        request.withheldResponseTrailers = [...withheld];
      },
      finished: (record: BackendExchangeRecord) => this.finish(request, record),
    };
  }

  #emit(event: RequestLogEvent): void {
    for (const listener of this.#listeners) listener(event);
  }
}
