import type { HopGateErrorCode } from "../../lib/hopgate-error.js";
import type { StreamOpen } from "../../protocol/gen/hopgate/protocol/v1/tunnel_pb.js";
import { pumpIntoStream } from "../../protocol/stream-pump.js";
import type { AbortCause, StreamSink, TunnelStream } from "../../protocol/tunnel-stream.js";
import type { HeaderMap } from "../../protocol/wire-headers.js";
import type { VisitorLimitReason } from "../limits/visitor-limits.js";
import type { TrailerOutcome } from "../metrics/server-events.js";
import type { TunnelSession } from "../tunnel/session.js";
import { accessRecordOf, type AccessSink } from "./access-record.js";
import { sendErrorPage } from "./error-response.js";
import {
  onVisitorConnectionClosed,
  ResponseDelivery,
  V1_MAX_BUFFERED_BYTES_PER_STREAM,
  type DeliveryFailure,
} from "./response-delivery.js";
import { parseResponseHead } from "./response-head.js";
import { rawFieldMap, trailerFields, trailerHeaderMap } from "../../protocol/trailer-fields.js";
import { acceptsTrailers } from "./visitor-trailers.js";
import type { VisitorRequest, VisitorResponse } from "./visitor.js";

export interface ExchangeContext {
  readonly requestId: string;
  readonly domain: string;
  readonly startedAtMs: number;
  readonly proxyTimeoutMs: number;
  /** The visitor's address, read when the request arrived (visitor-address.ts). */
  readonly remoteAddress: string;
  /** The forwarding chain for the backend: the visitor first, the TCP peer last (visitor-address.ts). */
  readonly forwardedFor: readonly string[];
  /** Set when a peer relayed the request here: the registry id of the server the visitor reached. */
  readonly relayedBy: string | undefined;
  /** A response write pending this long with none finishing: the visitor is given up (the idle timeout). */
  readonly sendTimeoutMs: number;
  /** No request-body bytes this long mid-body: the exchange is given up (nginx `client_body_timeout`); 0 = none. */
  readonly bodyTimeoutMs: number;
  /** Largest request body forwarded; 0 = no limit. */
  readonly maxBodyBytes: number;
  readonly onFinished: AccessSink;
  readonly onLimited: (reason: VisitorLimitReason) => void;
  /**
   * A response trailer section was sent to the visitor, dropped or refused. Counted once in the
   * gateway: a relayed request's holder reports only `refused`, the visitor's server the rest.
   */
  readonly onTrailers: (outcome: TrailerOutcome) => void;
}

type Phase =
  | { readonly t: "awaiting_head"; readonly timer: NodeJS.Timeout }
  // bodyBytesLeft: what the declared Content-Length still allows (undefined: none declared, or no body).
  // trailers: whether the visitor can take trailer fields (visitor-trailers.ts).
  | {
      readonly t: "streaming";
      readonly status: number;
      bodyBytesLeft: number | undefined;
      readonly trailers: boolean;
    }
  | { readonly t: "discarding"; readonly status: number } // v1 client's own 502: its body is replaced by ours
  | { readonly t: "done" };

/**
 * One visitor request carried over a tunnel stream, and its response carried back: request
 * body streamed in with credit, response head validated, response body streamed out with
 * credit returned as it reaches the visitor's socket. Any failure before the response head is
 * an error page; after it, the visitor's response is aborted, never ended as if complete.
 */
export class ProxiedExchange implements StreamSink {
  readonly #req: VisitorRequest;
  readonly #res: VisitorResponse;
  readonly #stream: TunnelStream;
  readonly #session: TunnelSession;
  readonly #context: ExchangeContext;
  readonly #delivery: ResponseDelivery;
  #phase: Phase;
  #unwatchConnection: () => void = () => undefined;
  #unwatchBody: () => void = () => undefined;

  constructor(
    req: VisitorRequest,
    res: VisitorResponse,
    stream: TunnelStream,
    session: TunnelSession,
    context: ExchangeContext,
  ) {
    this.#req = req;
    this.#res = res;
    this.#stream = stream;
    this.#session = session;
    this.#context = context;
    const timer = setTimeout(() => this.#timedOut(), context.proxyTimeoutMs);
    this.#phase = { t: "awaiting_head", timer };
    this.#delivery = new ResponseDelivery({
      stallTimeoutMs: context.sendTimeoutMs,
      maxBufferedBytes: V1_MAX_BUFFERED_BYTES_PER_STREAM,
      version: session.version,
      onFailure: (failure) => this.#visitorFailed(failure),
    });
    stream.setSink(this);
  }

  /** Sends the request head and starts the body; the response arrives through the sink methods. */
  start(serviceName: string, header: HeaderMap): void {
    this.#stream.sendOpen(serviceName, header);
    // Registered before the pump's own listener, so that the chunk past the limit never enters
    // the stream: the backend sees an aborted request, never a truncated one that looks whole.
    if (this.#context.maxBodyBytes > 0) this.#countBody(this.#context.maxBodyBytes);
    if (this.#context.bodyTimeoutMs > 0) this.#watchBodyIdle(this.#context.bodyTimeoutMs);
    pumpIntoStream(this.#req, this.#stream, "canceled: visitor aborted the request body", undefined, () =>
      this.#sendRequestTrailers(),
    );
    const gone = () => {
      if (this.#phase.t === "done") return;
      this.#stream.abort("canceled: visitor went away");
      this.#finish(this.#phase.t === "awaiting_head" ? 0 : this.#phase.status, "client_abort");
    };
    this.#res.once("close", gone);
    // The response's own close may never come once the connection is gone (nodejs/node#56374).
    this.#unwatchConnection = onVisitorConnectionClosed(this.#req, gone);
  }

  head(open: StreamOpen): void {
    if (this.#phase.t !== "awaiting_head") return;
    clearTimeout(this.#phase.timer);
    const head = parseResponseHead(open, false);
    if (!head.ok) return this.#session.streamViolation(this.#stream, this, head.problem);
    if (this.#session.version === 1 && head.status === 502) {
      // A v1 Go client reports a failed local call as a 502 with its error text as the body.
      this.#phase = { t: "discarding", status: 502 };
      sendErrorPage(this.#req, this.#res, "backend_failed", this.#context.requestId);
      return;
    }
    const hasBody = this.#req.method !== "HEAD" && head.status !== 204 && head.status !== 304;
    // Trailers follow only from a client that speaks the "trailers" capability (v1 and older v2
    // clients send none): nothing to announce or keep room for otherwise.
    const trailers =
      this.#session.capabilities.includes("trailers") &&
      acceptsTrailers(this.#req, head.status, head.headers);
    this.#phase = {
      t: "streaming",
      status: head.status,
      bodyBytesLeft: hasBody ? head.contentLength : undefined,
      trailers,
    };
    // RFC 9110 §6.6.2: a sender should announce its trailers; only where they can follow.
    if (trailers && head.trailerNames) head.headers.trailer = head.trailerNames;
    this.#res.strictContentLength = true;
    this.#res.writeHead(head.status, head.headers);
  }

  data(chunk: Uint8Array): void | Promise<void> {
    const phase = this.#phase;
    if (phase.t !== "streaming") {
      this.#stream.consumed(chunk.length);
      return;
    }
    if (phase.bodyBytesLeft !== undefined) {
      if (chunk.length > phase.bodyBytesLeft)
        return this.#session.streamViolation(this.#stream, this, "body longer than its Content-Length");
      phase.bodyBytesLeft -= chunk.length;
    }
    this.#delivery.deliver(this.#res, chunk, this.#stream);
  }

  /**
   * The response's trailer fields (capability "trailers"): validated like a head, a malformed
   * section aborting the stream; sent with the end of the response when the visitor can take
   * them, else dropped (visitor-trailers.ts).
   */
  trailers(header: HeaderMap): void {
    const phase = this.#phase;
    if (phase.t !== "streaming") return;
    const trailers = trailerFields(header);
    if (!trailers.ok) {
      this.#context.onTrailers("refused");
      return this.#session.streamViolation(this.#stream, this, trailers.problem);
    }
    const sent = phase.trailers && trailers.count > 0;
    if (sent) this.#res.addTrailers(trailers.fields);
    // A relayed request's visitor is a peer server, which counts what its visitor gets.
    if (this.#context.relayedBy === undefined) this.#context.onTrailers(sent ? "sent" : "dropped");
  }

  end(): void {
    const phase = this.#phase;
    if (phase.t === "awaiting_head")
      return this.#session.streamViolation(this.#stream, this, "stream ended without a response head");
    if (phase.t === "streaming") {
      if (phase.bodyBytesLeft)
        return this.#session.streamViolation(this.#stream, this, "body shorter than its Content-Length");
      this.#res.end();
      this.#finish(phase.status, undefined);
    } else if (phase.t === "discarding") {
      this.#finish(phase.status, "backend_failed");
    }
  }

  abort(_reason: string, cause: AbortCause): void {
    const phase = this.#phase;
    const code: HopGateErrorCode =
      cause === "tunnel_closed"
        ? "tunnel_closed"
        : cause === "violation"
          ? "protocol_violation"
          : "backend_failed";
    if (phase.t === "awaiting_head") {
      clearTimeout(phase.timer);
      return this.#fail(code);
    }
    if (phase.t === "streaming") {
      // A truncated body must never look complete: reset the HTTP/2 stream or the connection.
      this.#res.destroy(new Error("upstream aborted"));
      this.#finish(phase.status, code);
    } else if (phase.t === "discarding") {
      this.#finish(phase.status, "backend_failed");
    }
  }

  /**
   * The visitor's request trailers (an HTTP/2 trailers block, an HTTP/1.1 chunked trailer
   * section), validated as response trailers are; sent only to a client that speaks the
   * "trailers" capability (TunnelStream.sendTrailers), dropped otherwise or when malformed (node
   * has parsed them already; the body is complete).
   */
  #sendRequestTrailers(): void {
    const raw = this.#req.rawTrailers;
    if (raw.length === 0) return;
    const trailers = trailerFields(rawFieldMap(raw));
    if (trailers.ok && trailers.count > 0) this.#stream.sendTrailers(trailerHeaderMap(trailers.fields));
  }

  #countBody(maxBodyBytes: number): void {
    let bodyBytes = 0;
    const onData = (chunk: Buffer) => {
      bodyBytes += chunk.length;
      if (bodyBytes <= maxBodyBytes) return;
      this.#req.off("data", onData);
      this.#bodyTooLarge();
    };
    this.#req.on("data", onData);
  }

  /**
   * The time between two reads of the request body (nginx `client_body_timeout`). Time the
   * body is held back by the tunnel (the pump paused the request) is the tunnel's, not the visitor's.
   */
  #watchBodyIdle(idleMs: number): void {
    const req = this.#req;
    let timer: NodeJS.Timeout | undefined;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(fire, idleMs);
    };
    const fire = () => {
      if (req.isPaused()) return arm();
      unwatch();
      this.#bodyTimedOut();
    };
    const unwatch = () => {
      clearTimeout(timer);
      req.off("data", arm);
      req.off("end", unwatch);
      req.off("close", unwatch);
    };
    req.on("data", arm);
    req.once("end", unwatch);
    req.once("close", unwatch);
    this.#unwatchBody = unwatch;
    arm();
  }

  /** The visitor stopped sending its request body: 408, or a reset if the response is under way. */
  #bodyTimedOut(): void {
    const phase = this.#phase;
    if (phase.t === "done") return;
    this.#stream.abort("timeout: visitor sent no request body in time");
    if (phase.t === "awaiting_head") return this.#fail("request_timeout");
    if (phase.t === "streaming") this.#res.destroy(new Error("request body timed out"));
    this.#finish(phase.status, "request_timeout");
  }

  /** A body of unknown (or untrue) length grew past the limit while it streamed. */
  #bodyTooLarge(): void {
    const phase = this.#phase;
    if (phase.t === "done") return;
    this.#context.onLimited("body");
    this.#stream.abort("refused: request body over the gateway's limit");
    if (phase.t === "awaiting_head") {
      clearTimeout(phase.timer);
      return this.#fail("payload_too_large");
    }
    // The backend answered before the body ended: its response can no longer be completed.
    if (phase.t === "streaming") this.#res.destroy(new Error("request body over the limit"));
    this.#finish(phase.status, "payload_too_large");
  }

  /** The visitor stopped taking its response (or, on v1, fell too far behind): it is given up. */
  #visitorFailed(failure: DeliveryFailure): void {
    const phase = this.#phase;
    if (phase.t !== "streaming") return;
    this.#stream.abort(
      failure === "stalled"
        ? "canceled: visitor stopped reading"
        : "canceled: visitor too slow for a tunnel without flow control",
    );
    this.#res.destroy(new Error(`visitor ${failure}`));
    this.#finish(phase.status, "client_abort");
  }

  #timedOut(): void {
    if (this.#phase.t !== "awaiting_head") return;
    this.#stream.abort("timeout: no response head in time");
    this.#fail("timeout");
  }

  #fail(code: HopGateErrorCode): void {
    const status = sendErrorPage(this.#req, this.#res, code, this.#context.requestId);
    this.#finish(status, code);
  }

  #finish(status: number, error: HopGateErrorCode | "client_abort" | undefined): void {
    if (this.#phase.t === "done") return;
    if (this.#phase.t === "awaiting_head") clearTimeout(this.#phase.timer);
    this.#phase = { t: "done" };
    this.#delivery.stop();
    this.#unwatchConnection();
    this.#unwatchBody();
    this.#context.onFinished(
      accessRecordOf(this.#req, this.#context, {
        status,
        bytesIn: this.#stream.sentBytes,
        bytesOut: this.#stream.receivedBytes,
        sessionId: this.#session.id,
        error,
      }),
    );
  }
}
