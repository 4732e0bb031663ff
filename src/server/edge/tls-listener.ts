import { once } from "node:events";
import type { ServerResponse } from "node:http";
import http2, { type Http2ServerResponse } from "node:http2";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import type { SecureContext, SecureContextOptions, TLSSocket } from "node:tls";
import type { ListenAddress } from "../../config/parsers.js";
import type { Logger } from "../../lib/logger.js";
import type { VisitorRequest } from "../proxy/visitor.js";
import type { RequestHandler } from "./dispatch.js";

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
  readonly onUpgrade: (req: VisitorRequest, socket: Duplex, head: Buffer) => void;
  readonly logger: Logger;
  readonly headersTimeoutMs?: number;
  readonly requestTimeoutMs?: number;
  readonly idleTimeoutMs?: number;
}

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
  const server = http2.createSecureServer({
    ...options.tls,
    allowHTTP1: true,
    // Small writes (HTTP/2 frames, tunnel messages) go out at once: with Nagle's algorithm and
    // delayed ACKs each request/response exchange stalled for tens of ms (docs/performance.md).
    noDelay: true,
    settings: {
      initialWindowSize: VISITOR_STREAM_WINDOW_BYTES,
      maxConcurrentStreams: 1000,
      maxHeaderListSize: 64 * 1024,
    },
    maxSessionMemory: 256,
    // A handshake that does not finish in time is dropped (slow TLS clients).
    handshakeTimeout: 10_000,
  });
  // HTTP/1.1 fallback timeouts (and closeIdleConnections) live on the server object although the
  // typings omit them.
  const fallback = server as unknown as {
    headersTimeout: number;
    requestTimeout: number;
    timeout: number;
    closeIdleConnections(): void;
  };
  fallback.headersTimeout = options.headersTimeoutMs ?? 20_000;
  fallback.requestTimeout = options.requestTimeoutMs ?? 300_000;
  // Idle HTTP/1.1 sockets and HTTP/2 sessions are destroyed (tunnels opt out after their handshake).
  fallback.timeout = options.idleTimeoutMs ?? 120_000;
  const open = new Set<TLSSocket>();
  server.on("secureConnection", (socket: TLSSocket) => {
    open.add(socket);
    socket.once("close", () => open.delete(socket));
  });
  let stopping = false;
  const http1InFlight = new Set<ServerResponse>();
  server.on("request", (req: VisitorRequest, res: ServerResponse | Http2ServerResponse) => {
    if (req.httpVersionMajor === 1) trackHttp1(res as ServerResponse);
    options.onRequest(req, res);
  });
  const trackHttp1 = (res: ServerResponse) => {
    if (stopping) return res.setHeader("connection", "close");
    http1InFlight.add(res);
    res.once("close", () => http1InFlight.delete(res));
  };
  server.on("upgrade", options.onUpgrade);
  server.on("sessionError", (error: Error) =>
    options.logger.debug({ err: error.message }, "HTTP/2 session error"),
  );
  server.on("tlsClientError", (error: Error) =>
    options.logger.debug({ err: error.message }, "TLS handshake failed"),
  );
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
