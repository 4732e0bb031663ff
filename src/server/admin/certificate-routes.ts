import { createRoute, z, type OpenAPIHono } from "@hono/zod-openapi";
import { normalizeDomain } from "../../lib/domain-name.js";
import { HopGateError } from "../../lib/hopgate-error.js";
import type { Logger } from "../../lib/logger.js";
import type { DomainRepository } from "../store/domain-repository.js";
import { certificateJson, errorResponse, toCertificateJson } from "./admin-schemas.js";
import type { CertificateDirectory } from "./domain-routes.js";
import { errorResponses, jsonResponse } from "./route-helpers.js";

export interface CertificateRoutesOptions {
  readonly domains: DomainRepository;
  /** The ACME manager; absent with self-signed or file certificates (every retry answers 409). */
  readonly certificates?: CertificateDirectory;
  readonly logger: Logger;
}

/** Unlike a registered domain, the main domain and HOP_SERVER_PROXY_DOMAINS are accepted. */
const nameParam = z
  .string()
  .max(1024, "domain is longer than 1024 characters")
  .transform((value, ctx) => {
    const result = normalizeDomain(value);
    if (result.ok) return result.domain;
    ctx.addIssue({ code: "custom", message: result.reason });
    return z.NEVER;
  })
  .openapi({
    param: { name: "domain", in: "path" },
    description: "A registered domain, the main domain, an HOP_SERVER_PROXY_DOMAINS name or a held label",
    example: "app.example.com",
  });

const retryAccepted = z
  .object({ success: z.literal(true), domain: z.string(), certificate: certificateJson })
  .openapi("CertificateRetry");

const retryRoute = createRoute({
  operationId: "retryCertificate",
  method: "post",
  path: "/domains/{domain}/certificate/retry",
  summary: "Order a domain's failed ACME certificate now instead of at its next retry",
  description:
    "For a certificate whose order (or renewal) failed: drops the backoff and orders now, through the domain's lock, so a gateway of several servers orders once. Never past the CA's limit of 5 failed orders of a name per hour, counted for the gateway (docs/certificates.md, Failures). Body: `{}`.",
  request: { params: z.object({ domain: nameParam }) },
  responses: {
    202: jsonResponse(retryAccepted, "Ordering (or an order was already running); the state now"),
    ...errorResponses(400, 404),
    409: jsonResponse(
      errorResponse,
      "Nothing to retry: a valid certificate and no failed renewal, or no ACME certificate for the name",
    ),
    429: {
      ...jsonResponse(
        errorResponse,
        "5 failed orders of the name within the hour: no order before `next_retry_at` (also sent for too many failed authentications, without it)",
      ),
      headers: {
        "Retry-After": {
          description: "Seconds until the limit allows the next order",
          schema: { type: "integer" as const },
        },
      },
    },
  },
});

/** `POST /domains/{domain}/certificate/retry` (docs/admin-api.md). */
export function addCertificateRoutes(app: OpenAPIHono, options: CertificateRoutesOptions): void {
  const { domains, certificates, logger } = options;
  app.openapi(retryRoute, async (c) => {
    const { domain } = c.req.valid("param");
    const result = await certificates?.retryNow(domain);
    if (!result) {
      if (!(await domains.find(domain))) throw new HopGateError("not_found", `${domain} is not registered`);
      throw new HopGateError("conflict", `no ACME certificate is managed for ${domain} on this server`);
    }
    const { decision, status } = result;
    switch (decision.t) {
      case "nothing":
        throw new HopGateError(
          "conflict",
          `nothing to retry: ${domain} has a valid certificate and its renewal has not failed`,
        );
      case "limited": {
        const nextRetryAt = new Date(decision.retryAtMs).toISOString();
        const retryAfterS = Math.max(1, Math.ceil((decision.retryAtMs - Date.now()) / 1000));
        logger.info({ domain, next_retry: nextRetryAt }, "certificate retry refused: hourly limit");
        const message = `failed orders of ${domain} within the hour reached the CA's limit; the next order is allowed at ${nextRetryAt}`;
        return c.json(
          {
            success: false as const,
            error: { code: "rate_limited", message },
            next_retry_at: nextRetryAt,
          },
          429,
          { "Retry-After": String(retryAfterS) },
        );
      }
      case "in_flight":
      case "order":
        logger.info({ domain, in_flight: decision.t === "in_flight" }, "certificate retry accepted");
        return c.json({ success: true as const, domain, certificate: toCertificateJson(status) }, 202);
    }
  });
}
