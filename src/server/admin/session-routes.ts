import { createRoute, z, type OpenAPIHono } from "@hono/zod-openapi";
import type { GatewaySessions } from "../cluster/server-registry.js";
import type { SessionDirectory } from "../tunnel/session-directory.js";
import { domainField, sessionsResponse, toSessionJson } from "./admin-schemas.js";
import { errorResponses, jsonResponse } from "./route-helpers.js";

/**
 * `GET /sessions[?domain=]`: live tunnel sessions (none when the server runs no tunnel endpoint);
 * with `gatewaySessions` (PostgreSQL), those of every live server, each with its `server`.
 */
export function addSessionRoutes(
  app: OpenAPIHono,
  options: { sessions?: SessionDirectory; gatewaySessions?: GatewaySessions; mainDomain: string },
): void {
  const route = createRoute({
    method: "get",
    path: "/sessions",
    operationId: "listSessions",
    summary: "Live tunnel sessions, optionally of one domain",
    description:
      "With the PostgreSQL store, the sessions of every live server of the gateway, each with the `server` holding it (docs/scale-out.md); 503 while PostgreSQL does not answer. With the embedded store, this server's sessions, without `server`.",
    request: { query: z.object({ domain: domainField(options.mainDomain).optional() }) },
    responses: { 200: jsonResponse(sessionsResponse, "Sessions"), ...errorResponses(400) },
  });
  app.openapi(route, async (c) => {
    const { domain } = c.req.valid("query");
    const filter = domain === undefined ? {} : { domain };
    const live = options.gatewaySessions
      ? await options.gatewaySessions.list(filter)
      : (options.sessions?.list(filter) ?? []);
    return c.json({ success: true as const, sessions: live.map(toSessionJson) }, 200);
  });
}
