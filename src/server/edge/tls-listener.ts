import { once } from "node:events";
import type { ServerResponse } from "node:http";
import http2 from "node:http2";
import type { AddressInfo, Socket } from "node:net";
import type { Duplex } from "node:stream";
import type { SecureContext, SecureContextOptions } from "node:tls";
import type { ListenAddress } from "../../config/parsers.js";
import type { Logger } from "../../lib/logger.js";
import type { VisitorRequest } from "../proxy/visitor.js";
import { createClientErrors, type VisitorRejectionReason } from "./client-error.js";
import type { RequestHandler } from "./dispatch.js";
import {
  HTTP2_HEADER_LIST_CEILING_BYTES,
  HTTP2_HEADER_LIST_CEILING_PAIRS,
  headerListBytes,
  refuseOversizedHead,
} from "./header-limit.js";
import { adoptOriginForm, refuseTarget, refuseUpgradeTarget } from "./origin-form.js";

export interface TlsListenerOptions {
  readonly listen: ListenAddress;
  /** Default certificate and key, plus the SNI callback that picks per-name contexts. */
  readonly tls: SecureContextOptions & {
    readonly SNICallback?: (
      servername: string,
      callback: (error: Error | null, context?: SecureContext) => void,
    ) => void;
  };
  readonly onRequest: RequestHandler;
  /**
   * Offered every HTTP/2 stream whose head is within `maxHeaderBytes` before node's
   * compatibility layer makes a request/response pair of it: returns true when it serves the
   * stream itself (the gRPC tunnel: the pair would live as long as the tunnel, docs/performance.md
   * change 19), false to let it reach `onRequest` as usual.
   */
  readonly claimStream?: StreamClaim;
  readonly onUpgrade: (req: VisitorRequest, socket: Duplex, head: Buffer) => void;
  readonly logger: Logger;
  /** Each accepted TCP connection, before its TLS handshake (per-address limits count them). */
  readonly onConnection?: (socket: Socket) => void;
  readonly timeouts?: ListenerTimeouts;
  /** Largest request head: 431 beyond it, from node's parser (HTTP/1.1) or the listener (HTTP/2). */
  readonly maxHeaderBytes?: number;
  /**
   * A request refused before it reached `onRequest`: HTTP/1.1 parser errors and timeouts, HTTP/2
   * heads over the limit answered 431, HTTP/2 connections without a first request in time.
   */
  readonly onRejected?: (reason: VisitorRejectionReason) => void;
  /** Open connections accepted in all; more are closed at once. 0 or undefined = no limit. */
  readonly maxConnections?: number;
  /** Time a connection has to complete its TLS handshake; default 10 s. */
  readonly handshakeTimeoutMs?: number;
  /** A connection closed by the listener itself: over `maxConnections`, or handshake too slow. */
  readonly onDropped?: (reason: ConnectionDropReason) => void;
}

/** See TlsListenerOptions.claimStream. */
export type StreamClaim = (
  stream: http2.ServerHttp2Stream,
  headers: http2.IncomingHttpHeaders,
  rawHeaders: readonly string[],
) => boolean;

export const CONNECTION_DROP_REASONS = ["max_connections", "handshake_timeout"] as const;
export type ConnectionDropReason = (typeof CONNECTION_DROP_REASONS)[number];

export interface ListenerTimeouts {
  /** A complete request head must arrive within this (HTTP/1.1: 408; HTTP/2: first request). */
  readonly headersMs: number;
  /** A whole HTTP/1.1 request, body included, must arrive within this; 0 = no limit. */
  readonly requestMs: number;
  /** Idle HTTP/1.1 sockets and HTTP/2 sessions are destroyed after this (tunnels opt out). */
  readonly idleMs: number;
}

export const DEFAULT_LISTENER_TIMEOUTS: ListenerTimeouts = {
  headersMs: 20_000,
  requestMs: 300_000,
  idleMs: 120_000,
};

/** Node's default of 30 s would let a head time out up to 30 s late. */
const CONNECTIONS_CHECKING_INTERVAL_MS = 1000;

export interface TlsListener {
  readonly server: http2.Http2SecureServer;
  readonly port: number;
  /**
   * First step of a graceful shutdown: no new connections; HTTP/2 connections get GOAWAY (their
   * open streams go on); HTTP/1.1 connections close once their current response is sent.
   * Resolves when the last connection has closed.
   */
  stopAccepting(): Promise<void>;
  /** Stops accepting and cuts every connection still open. */
  close(): Promise<void>;
}

/**
 * HTTP/2 stream window of visitors: moderate, so that unread uploads cannot pin much memory.
 * Tunnel connections raise theirs after the handshake (tunnel-connection.ts).
 */
const VISITOR_STREAM_WINDOW_BYTES = 256 * 1024;

/**
 * The one public TLS port: HTTP/2 and HTTP/1.1 (ALPN), every request handed to the dispatch,
 * HTTP/1.1 upgrades to the proxy. Timeouts bound slow clients: headers, whole request, idle.
 */
export async function startTlsListener(options: TlsListenerOptions): Promise<TlsListener> {
  const timeouts = options.timeouts ?? DEFAULT_LISTENER_TIMEOUTS;
  const maxHeaderBytes = options.maxHeaderBytes ?? 32 * 1024;
  const server = http2.createSecureServer({
    ...options.tls,
    allowHTTP1: true,
    // Small writes (HTTP/2 frames, tunnel messages) go out at once: with Nagle's algorithm and
    // delayed ACKs each request/response exchange stalled for tens of ms (docs/performance.md).
    noDelay: true,
    settings: {
      initialWindowSize: VISITOR_STREAM_WINDOW_BYTES,
      maxConcurrentStreams: 1000,
      maxHeaderListSize: HTTP2_HEADER_LIST_CEILING_BYTES,
    },
    maxHeaderListPairs: HTTP2_HEADER_LIST_CEILING_PAIRS,
    maxSessionMemory: 256,
    // A handshake that does not finish in time is dropped (slow TLS clients, idle floods).
    handshakeTimeout: options.handshakeTimeoutMs ?? 10_000,
  });
  // net.Server closes connections past maxConnections right after accept(2) and emits "drop":
  // a flood costs file descriptors and memory up to the cap, not beyond (issue 12 §4).
  if (options.maxConnections) server.maxConnections = options.maxConnections;
  server.on("drop", () => options.onDropped?.("max_connections"));
  // HTTP/1.1 fallback limits live on the server object although the typings omit them; node
  // reads them per connection (the checking interval once, at listen).
  const fallback = server as unknown as {
    headersTimeout: number;
    requestTimeout: number;
    keepAliveTimeout: number;
    connectionsCheckingInterval: number;
    maxHeaderSize: number;
    timeout: number;
    closeIdleConnections(): void;
  };
  fallback.headersTimeout = timeouts.headersMs;
  fallback.requestTimeout = timeouts.requestMs;
  fallback.connectionsCheckingInterval = CONNECTIONS_CHECKING_INTERVAL_MS;
  fallback.maxHeaderSize = maxHeaderBytes;
  fallback.timeout = timeouts.idleMs;
  // Between HTTP/1.1 requests node applies keepAliveTimeout (5 s by default) instead of
  // `timeout`: idle keep-alive visitors would be cut long before the idle timeout, and each
  // reconnection costs a TLS handshake on the request that needs it (docs/performance.md, 13).
  fallback.keepAliveTimeout = timeouts.idleMs;
  if (options.onConnection) server.on("connection", options.onConnection);
  const rejected = (reason: VisitorRejectionReason) => options.onRejected?.(reason);
  const clientErrors = createClientErrors(rejected);
  server.on("clientError", clientErrors.listener);
  server.on("session", (session: http2.ServerHttp2Session) =>
    dropWithoutFirstRequest(session, timeouts.headersMs, () => rejected("timeout")),
  );
  // Every accepted connection, handshake done or not: close() must not wait for a silent one.
  const open = new Set<Socket>();
  server.on("connection", (socket: Socket) => {
    open.add(socket);
    socket.once("close", () => open.delete(socket));
  });
  let stopping = false;
  const http1InFlight = new Set<ServerResponse>();
  const trackHttp1 = (res: ServerResponse) => {
    if (stopping) return res.setHeader("connection", "close");
    http1InFlight.add(res);
    res.once("close", () => http1InFlight.delete(res));
  };
  server.on("request", (req: VisitorRequest, res: Parameters<RequestHandler>[1]) => {
    if (req.httpVersionMajor === 1) {
      clientErrors.responding(req.socket, res as ServerResponse);
      trackHttp1(res as ServerResponse);
    }
    // HTTP/2 heads are measured here, not by nghttp2 (whose ceiling is far higher, see
    // header-limit.ts): over the limit they get 431, as on HTTP/1.1, whenever they arrive.
    if (req.httpVersionMajor === 2 && headerListBytes(req.rawHeaders) > maxHeaderBytes) {
      rejected("header_too_large");
      return refuseOversizedHead(req, res);
    }
    if (!adoptOriginForm(req).ok) {
      rejected("malformed");
      return refuseTarget(req, res);
    }
    options.onRequest(req, res);
  });
  if (options.claimStream) offerStreams(server, options.claimStream, maxHeaderBytes);
  server.on("upgrade", (req: VisitorRequest, socket: Duplex, head: Buffer) => {
    if (adoptOriginForm(req).ok) return options.onUpgrade(req, socket, head);
    rejected("malformed");
    refuseUpgradeTarget(socket);
  });
  server.on("sessionError", (error: Error) =>
    options.logger.debug({ err: error.message }, "HTTP/2 session error"),
  );
  server.on("tlsClientError", (error: Error & { code?: string }) => {
    if (error.code === "ERR_TLS_HANDSHAKE_TIMEOUT") options.onDropped?.("handshake_timeout");
    options.logger.debug({ err: error.message }, "TLS handshake failed");
  });
  server.listen(options.listen.port, options.listen.host || undefined);
  await once(server, "listening");
  const port = (server.address() as AddressInfo).port;
  let closed: Promise<void> | undefined;
  const stopAccepting = () => {
    stopping = true;
    // Node's close() also sends GOAWAY to every HTTP/2 session and closes idle HTTP/1.1 sockets.
    closed ??= new Promise<void>((resolve) => server.close(() => resolve()));
    // RFC 9112 §9.6: "Connection: close" on the last response, then the socket is closed once idle.
    for (const res of http1InFlight) {
      if (!res.headersSent) res.setHeader("connection", "close");
      else res.once("finish", () => setImmediate(() => fallback.closeIdleConnections()));
    }
    http1InFlight.clear();
    return closed;
  };
  return {
    server,
    port,
    stopAccepting,
    close: () => {
      const done = stopAccepting();
      // Connections (tunnels, keep-alive visitors) would keep close() waiting: end them.
      for (const socket of open) socket.destroy();
      return done;
    },
  };
}

/**
 * Puts `claim` before node's compatibility layer: adding the "request" listener made node
 * listen to "stream" with its own handler (which builds Http2ServerRequest/Response and emits
 * "request"); that handler now runs only for the streams `claim` declines. A head over the
 * limit is never offered, so it still gets its 431 from the "request" listener.
 */
function offerStreams(server: http2.Http2SecureServer, claim: StreamClaim, maxHeaderBytes: number): void {
  const compat = server.listeners("stream");
  if (compat.length !== 1) throw new Error("node's HTTP/2 compatibility handler was not found");
  const toCompat = compat[0] as (...args: unknown[]) => void;
  server.removeListener("stream", toCompat);
  server.on(
    "stream",
    (
      stream: http2.ServerHttp2Stream,
      headers: http2.IncomingHttpHeaders,
      flags: number,
      rawHeaders: string[],
    ) => {
      if (headerListBytes(rawHeaders) <= maxHeaderBytes && claim(stream, headers, rawHeaders)) return;
      toCompat(stream, headers, flags, rawHeaders);
    },
  );
}

/**
 * Node's HTTP/2 server has no headers timeout: a visitor that opens a session and never
 * completes a HEADERS frame would hold it until the idle timeout, or forever if it trickles
 * bytes. A session whose first request has not arrived in time is destroyed.
 */
function dropWithoutFirstRequest(
  session: http2.ServerHttp2Session,
  headersTimeoutMs: number,
  onDropped: () => void,
): void {
  const timer = setTimeout(() => {
    onDropped();
    session.destroy();
  }, headersTimeoutMs);
  timer.unref();
  const clear = () => clearTimeout(timer);
  session.once("stream", clear);
  session.once("close", clear);
}
