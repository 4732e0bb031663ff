import { createContextValues, type ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import type { Http2ServerRequest } from "node:http2";
import type { ListenAddress } from "../../config/parsers.js";
import type { Logger } from "../../lib/logger.js";
import { MAX_TUNNEL_MESSAGE_BYTES } from "../../protocol/limits.js";
import { errorPage } from "../proxy/error-response.js";
import type { Proxy } from "../proxy/proxy.js";
import type { VisitorRequest, VisitorResponse } from "../proxy/visitor.js";
import { rawRequestKey } from "../tunnel/tunnel-endpoint.js";
import { createDispatch, type RequestHandler } from "./dispatch.js";
import { startTlsListener, type TlsListener, type TlsListenerOptions } from "./tls-listener.js";

export interface EdgeOptions {
  readonly listen: ListenAddress;
  readonly tls: TlsListenerOptions["tls"];
  readonly mainDomain: string;
  readonly debug: boolean;
  readonly tunnelRoutes: (router: ConnectRouter) => void;
  readonly admin: RequestHandler;
  readonly proxy: Proxy;
  readonly logger: Logger;
  /** Aborts in-flight tunnel calls when the server shuts down. */
  readonly shutdownSignal?: AbortSignal;
}

/**
 * The public HTTPS edge: one TLS port for the gRPC tunnel (served by Connect's handler inside
 * the per-request dispatch), the admin API and every proxied domain.
 */
export async function startEdge(options: EdgeOptions): Promise<TlsListener> {
  const tunnel = connectNodeAdapter({
    routes: options.tunnelRoutes,
    grpc: true,
    connect: false,
    grpcWeb: false,
    readMaxBytes: MAX_TUNNEL_MESSAGE_BYTES,
    writeMaxBytes: MAX_TUNNEL_MESSAGE_BYTES,
    // Bodies are mostly compressed already, and gzip would cost more CPU than the whole tunnel.
    acceptCompression: [],
    shutdownSignal: options.shutdownSignal,
    contextValues: (req) => createContextValues().set(rawRequestKey, req as Http2ServerRequest),
  });
  const notHere = (req: VisitorRequest, res: VisitorResponse) => {
    const page = errorPage("not_found", "-", req.headers.accept);
    res.writeHead(page.status, page.headers);
    res.end(page.body);
  };
  const dispatch = createDispatch({
    mainDomain: options.mainDomain,
    debug: options.debug,
    tunnel: tunnel,
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
  });
}
