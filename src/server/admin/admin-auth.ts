import type { MiddlewareHandler } from "hono";
import { secretsEqual } from "../../lib/api-key.js";
import { HopGateError } from "../../lib/hopgate-error.js";

/**
 * Bearer authentication of every admin route (`Authorization: Bearer <HOP_ADMIN_API_KEY>`).
 * Without a configured key the API is disabled (503), never open. The comparison hashes both
 * sides first, so neither the key's content nor its length leaks through timing.
 */
export function adminAuth(adminApiKey: string | undefined): MiddlewareHandler {
  return async (c, next) => {
    if (adminApiKey === undefined || adminApiKey === "") {
      throw new HopGateError("unavailable", "admin API disabled: the server has no HOP_ADMIN_API_KEY");
    }
    const header = c.req.header("authorization");
    if (header === undefined || header.trim() === "") {
      throw new HopGateError(
        "unauthenticated",
        "missing bearer token (Authorization: Bearer <admin API key>)",
      );
    }
    const match = /^Bearer[ ]+(\S+)\s*$/i.exec(header);
    if (!match?.[1] || !secretsEqual(match[1], adminApiKey)) {
      throw new HopGateError("unauthenticated", "invalid admin API key");
    }
    await next();
  };
}
