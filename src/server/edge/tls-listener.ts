import { once } from "node:events";
import http2 from "node:http2";
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
  // HTTP/1.1 fallback timeouts live on the server object although the typings omit them.
  const fallback = server as unknown as { headersTimeout: number; requestTimeout: number; timeout: number };
  fallback.headersTimeout = options.headersTimeoutMs ?? 20_000;
  fallback.requestTimeout = options.requestTimeoutMs ?? 300_000;
  // Idle HTTP/1.1 sockets and HTTP/2 sessions are destroyed (tunnels opt out after their handshake).
  fallback.timeout = options.idleTimeoutMs ?? 120_000;
  const open = new Set<TLSSocket>();
  server.on("secureConnection", (socket: TLSSocket) => {
    open.add(socket);
    socket.once("close", () => open.delete(socket));
  });
  server.on("request", options.onRequest);
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
  return {
    server,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Connections (tunnels, keep-alive visitors) would keep close() waiting: end them.
        for (const socket of open) socket.destroy();
      }),
  };
}
