import { createRoute, z, type OpenAPIHono } from "@hono/zod-openapi";
import type { Logger } from "../../lib/logger.js";
import { maskUrlSecrets } from "../../lib/secret.js";
import {
  accessPolicyInput,
  publicAccessPolicy,
  toPublicPolicy,
  toStoredPolicy,
} from "../access/access-policy.js";
import type { AccessRepository } from "../store/access-repository.js";
import { domainField, okResponse } from "./admin-schemas.js";
import { errorResponses, jsonBody, jsonResponse } from "./route-helpers.js";

export interface AccessRoutesOptions {
  readonly access: AccessRepository;
  readonly mainDomain: string;
  readonly logger: Logger;
}

const accessResponse = z
  .object({
    success: z.literal(true),
    domain: z.string(),
    access: publicAccessPolicy.nullable().openapi({ description: "null: no policy, every visitor gets in" }),
    invalid: z.boolean().optional().openapi({
      description:
        "The stored policy does not parse (written by hand?): nobody gets in until it is replaced or cleared",
    }),
  })
  .openapi("DomainAccess");

function accessRouteDefinitions(mainDomain: string) {
  const params = z.object({
    domain: domainField(mainDomain).openapi({ param: { name: "domain", in: "path" } }),
  });
  const path = "/domains/{domain}/access";
  return {
    put: createRoute({
      operationId: "setDomainAccess",
      method: "put",
      path,
      summary:
        "Set a domain's visitor access policy (replaces the previous one; in force at the next request)",
      description:
        "On a wildcard base domain (`*.base`, or `%2A.base` in the path) the policy guards every label served under it, and every name registered under it that has no policy of its own (docs/access.md, Guarding labels)",
      request: { params, body: jsonBody(accessPolicyInput) },
      responses: {
        200: jsonResponse(accessResponse, "Stored; passwords and the secret are never returned"),
        ...errorResponses(400, 404, 413, 415),
      },
    }),
    get: createRoute({
      operationId: "getDomainAccess",
      method: "get",
      path,
      summary: "Read a domain's visitor access policy: usernames, lists, header name and rate, no hashes",
      request: { params },
      responses: { 200: jsonResponse(accessResponse, "The policy"), ...errorResponses(400, 404) },
    }),
    clear: createRoute({
      operationId: "clearDomainAccess",
      method: "delete",
      path,
      summary: "Remove a domain's visitor access policy: every visitor gets in again",
      request: { params },
      responses: { 200: jsonResponse(okResponse, "Cleared"), ...errorResponses(400, 404) },
    }),
  };
}

/** `/domains/{domain}/access`: PUT, GET and DELETE of the visitor access policy (docs/access.md). */
export function addAccessRoutes(app: OpenAPIHono, options: AccessRoutesOptions): void {
  const { access, logger } = options;
  const routes = accessRouteDefinitions(options.mainDomain);

  app.openapi(routes.put, async (c) => {
    const { domain } = c.req.valid("param");
    const stored = await toStoredPolicy(c.req.valid("json"));
    await access.put(domain, stored);
    logger.info(
      {
        domain,
        users: stored.basic_auth.length,
        allow: stored.allow.length,
        deny: stored.deny.length,
        secret_header: stored.secret_header?.name,
        rate_limit_per_second: stored.rate_limit_per_second,
        forward_auth: stored.forward_auth && maskUrlSecrets(stored.forward_auth.url),
      },
      "access policy set",
    );
    return c.json({ success: true as const, domain, access: toPublicPolicy(stored) }, 200);
  });

  app.openapi(routes.get, async (c) => {
    const { domain } = c.req.valid("param");
    const entry = await access.get(domain);
    if (entry === "invalid")
      return c.json({ success: true as const, domain, access: null, invalid: true }, 200);
    return c.json({ success: true as const, domain, access: entry ? toPublicPolicy(entry) : null }, 200);
  });

  app.openapi(routes.clear, async (c) => {
    const { domain } = c.req.valid("param");
    await access.clear(domain);
    logger.info({ domain }, "access policy cleared");
    return c.json({ success: true as const }, 200);
  });
}
