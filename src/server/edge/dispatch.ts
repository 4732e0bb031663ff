import { isIP } from "node:net";
import { hostForRouting } from "../../lib/domain-name.js";
import type { ServerResponse } from "node:http";
import type { Http2ServerResponse } from "node:http2";
import { hasRepeatedHost, visitorHost, type VisitorRequest } from "../proxy/visitor.js";

export type RequestHandler = (req: VisitorRequest, res: ServerResponse | Http2ServerResponse) => void;

export interface DispatchOptions {
  readonly mainDomain: string;
  /**
   * Other names of this server itself, answered as the main domain (tunnel calls, admin API):
   * its advertise address's host, by which v2 clients of a gateway dial it (docs/scale-out.md).
   */
  readonly serverHosts?: readonly string[];
  /** Development: the main domain's endpoints also answer on localhost and IP-address hosts. */
  readonly debug: boolean;
  readonly tunnel: RequestHandler;
  readonly admin: RequestHandler;
  readonly mainDomainFallback: RequestHandler;
  readonly proxy: RequestHandler;
}

const TUNNEL_PATH_PREFIX = "/hopgate.protocol.v1.HopGateTunnel/";
const ADMIN_PATH_PREFIX = "/api/v1/admin";

/**
 * Per-request dispatch of the single TLS listener (ARCHITECTURE.md, TLS listener): gRPC tunnel
 * calls and the admin API exist only on the main domain's host; every other host belongs to a
 * tenant and goes to the proxy, whatever its path (a tenant's own gRPC, /metrics or
 * /api/v1/admin are the tenant's). The listener has already made every target origin-form with
 * a normalized path, an absolute-form authority standing in for Host (origin-form.ts).
 */
export function createDispatch(options: DispatchOptions): RequestHandler {
  const serverHosts = new Set(options.serverHosts?.map((host) => host.toLowerCase()));
  const isMainHost = (host: string) =>
    host === options.mainDomain ||
    serverHosts.has(host) ||
    (options.debug && (host === "localhost" || isIP(host.replace(/^\[|\]$/g, "")) !== 0));
  return (req, res) => {
    // The proxy answers a repeated Host with 400 whichever host comes first (RFC 9112 §3.2).
    if (hasRepeatedHost(req) || !isMainHost(hostForRouting(visitorHost(req)))) return options.proxy(req, res);
    const url = req.url ?? "/";
    if (
      url.startsWith(TUNNEL_PATH_PREFIX) &&
      req.httpVersionMajor === 2 &&
      isGrpc(req.headers["content-type"])
    ) {
      return options.tunnel(req, res);
    }
    if (
      url === ADMIN_PATH_PREFIX ||
      url.startsWith(`${ADMIN_PATH_PREFIX}/`) ||
      url.startsWith(`${ADMIN_PATH_PREFIX}?`)
    ) {
      return options.admin(req, res);
    }
    return options.mainDomainFallback(req, res);
  };
}

function isGrpc(contentType: string | undefined): boolean {
  return contentType !== undefined && contentType.startsWith("application/grpc");
}
