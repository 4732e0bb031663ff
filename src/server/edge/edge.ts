import type { Http2ServerRequest } from "node:http2";
import type { ListenAddress } from "../../config/parsers.js";
import type { Logger } from "../../lib/logger.js";
import { errorPage } from "../proxy/error-response.js";
import type { Proxy } from "../proxy/proxy.js";
import type { VisitorRequest, VisitorResponse } from "../proxy/visitor.js";
import type { TunnelHandler } from "../tunnel/tunnel-endpoint.js";
import { createDispatch, type RequestHandler } from "./dispatch.js";
import { startTlsListener, type TlsListener, type TlsListenerOptions } from "./tls-listener.js";

export interface EdgeOptions {
  readonly listen: ListenAddress;
  readonly tls: TlsListenerOptions["tls"];
  readonly mainDomain: string;
  /** Other names of this server itself (dispatch.ts). */
  readonly serverHosts?: readonly string[];
  readonly debug: boolean;
  /** The gRPC tunnel method (requests the dispatch identified as tunnel calls). */
  readonly tunnel: TunnelHandler;
  readonly admin: RequestHandler;
  readonly proxy: Proxy;
  readonly logger: Logger;
  readonly timeouts?: TlsListenerOptions["timeouts"];
  readonly maxHeaderBytes?: number;
  readonly onConnection?: TlsListenerOptions["onConnection"];
  readonly onRejected?: TlsListenerOptions["onRejected"];
  readonly maxConnections?: number;
  readonly handshakeTimeoutMs?: number;
  readonly onDropped?: TlsListenerOptions["onDropped"];
}

/**
 * The public HTTPS edge: one TLS port for the gRPC tunnel (served per request, inside the
 * dispatch), the admin API and every proxied domain.
 */
export async function startEdge(options: EdgeOptions): Promise<TlsListener> {
  const notHere = (req: VisitorRequest, res: VisitorResponse) => {
    const page = errorPage("not_found", "-", req.headers.accept);
    res.writeHead(page.status, page.headers);
    res.end(page.body);
  };
  const dispatch = createDispatch({
    mainDomain: options.mainDomain,
    serverHosts: options.serverHosts,
    debug: options.debug,
    tunnel: (req) => options.tunnel(req as Http2ServerRequest),
    admin: options.admin,
    mainDomainFallback: notHere,
    proxy: options.proxy.handleRequest,
  });
  return startTlsListener({
    listen: options.listen,
    tls: options.tls,
    onRequest: dispatch,
    onUpgrade: options.proxy.handleUpgrade,
    logger: options.logger,
    timeouts: options.timeouts,
    maxHeaderBytes: options.maxHeaderBytes,
    onConnection: options.onConnection,
    onRejected: options.onRejected,
    maxConnections: options.maxConnections,
    handshakeTimeoutMs: options.handshakeTimeoutMs,
    onDropped: options.onDropped,
  });
}
