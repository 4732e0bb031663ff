import type { Context, MiddlewareHandler } from "hono";
import type { HttpBindings } from "@hono/node-server";
import { secretsEqual } from "../../lib/api-key.js";
import { HopGateError } from "../../lib/hopgate-error.js";
import type { VisitorAddressOf } from "../edge/visitor-address.js";
import type { AuthLimiter } from "../limits/auth-failure-limiter.js";

export interface AdminAuthOptions {
  /** Refuses (429) addresses with too many failed logins before their key is looked at. */
  readonly limiter?: AuthLimiter;
  /** A request carried a missing or wrong key (answered 401). */
  readonly onFailure?: () => void;
  /** A request was refused (429) because its address is blocked. */
  readonly onBlocked?: () => void;
  /** Who the caller is (behind a trusted front proxy, not the TCP peer); absent: the TCP peer. */
  readonly visitorAddress?: VisitorAddressOf;
}

/**
 * Bearer authentication of every admin route (`Authorization: Bearer <HOP_ADMIN_API_KEY>`).
 * Without a configured key the API is disabled (503), never open. The comparison hashes both
 * sides first, so neither the key's content nor its length leaks through timing. Every 401
 * counts against the caller's address; a blocked address gets 429 with Retry-After (RFC 9110
 * §10.2.3) and its key is not even compared.
 */
export function adminAuth(
  adminApiKey: string | undefined,
  options: AdminAuthOptions = {},
): MiddlewareHandler {
  return async (c, next) => {
    if (adminApiKey === undefined || adminApiKey === "") {
      throw new HopGateError("unavailable", "admin API disabled: the server has no HOP_ADMIN_API_KEY");
    }
    const remoteAddress = remoteAddressOf(c, options.visitorAddress);
    const retryAfterMs =
      remoteAddress === undefined ? 0 : (options.limiter?.retryAfterMs(remoteAddress) ?? 0);
    if (retryAfterMs > 0) {
      options.onBlocked?.();
      const seconds = Math.ceil(retryAfterMs / 1000);
      c.header("Retry-After", String(seconds));
      throw new HopGateError(
        "rate_limited",
        `too many failed authentications from this address; retry in ${seconds} s`,
      );
    }
    const fail = (message: string): never => {
      options.onFailure?.();
      if (remoteAddress !== undefined) options.limiter?.recordFailure(remoteAddress);
      throw new HopGateError("unauthenticated", message);
    };
    const header = c.req.header("authorization");
    if (header === undefined || header.trim() === "") {
      fail("missing bearer token (Authorization: Bearer <admin API key>)");
    }
    const match = /^Bearer[ ]+(\S+)\s*$/i.exec(header ?? "");
    if (!match?.[1] || !secretsEqual(match[1], adminApiKey)) fail("invalid admin API key");
    await next();
  };
}

/**
 * The caller of a request served by @hono/node-server; undefined for an in-memory `fetch`.
 * Callers whose address is unknown (a trusted proxy named none) share one count, `unknown`,
 * rather than escaping it.
 */
function remoteAddressOf(c: Context, visitorAddress: VisitorAddressOf | undefined): string | undefined {
  const incoming = (c.env as Partial<HttpBindings> | undefined)?.incoming;
  if (incoming === undefined) return undefined;
  return (visitorAddress ? visitorAddress(incoming).address : incoming.socket.remoteAddress) ?? "unknown";
}
