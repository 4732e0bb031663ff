import { z } from "@hono/zod-openapi";
import { normalizeDomain } from "../../lib/domain-name.js";
import { normalizeWildcard } from "../../lib/wildcard-domain.js";
import type { CertificateStatus } from "../certs/acme/managed-domain.js";
import type { DomainRecord } from "../store/domain-repository.js";
import type { SessionHolder } from "../cluster/server-registry.js";
import type { SessionInfo } from "../tunnel/session-directory.js";

/**
 * Zod schemas of the admin API: they validate requests and are the source of
 * /api/v1/admin/openapi.json. JSON field names are snake_case, as in the original API.
 */

const required = (field: string) => (issue: { input: unknown }) =>
  issue.input === undefined ? `${field} is required` : `${field} must be a string`;

/**
 * A domain as registered: normalized by normalizeDomain, or a wildcard base domain `*.base`
 * (normalizeWildcard); the server's own main domain is refused, as a name and as a base.
 */
export function domainField(mainDomain: string) {
  return z
    .string({ error: required("domain") })
    .max(1024, "domain is longer than 1024 characters")
    .transform((value, ctx) => {
      const wildcard = value.includes("*");
      const result = wildcard ? normalizeWildcard(value) : normalizeDomain(value);
      if (!result.ok) {
        ctx.addIssue({ code: "custom", message: result.reason });
        return z.NEVER;
      }
      const [name, base] =
        "pattern" in result ? [result.pattern, result.base] : [result.domain, result.domain];
      if (base === mainDomain) {
        ctx.addIssue({ code: "custom", message: `${base} is the server's own main domain` });
        return z.NEVER;
      }
      return name;
    })
    .openapi({
      description:
        "FQDN; trimmed, lowercased, IDN converted to punycode, one trailing dot dropped. `*.base` registers a wildcard base domain: its key serves any one label under it (docs/access.md)",
      example: "app.example.com",
    });
}

/** A JSON request body: an object with `shape` (unknown fields are ignored). */
export function bodyObject<S extends z.ZodRawShape>(shape: S) {
  return z.object(shape, { error: "body must be a JSON object" });
}

export const memoField = z
  .string({ error: required("memo") })
  .max(1024, "memo is longer than 1024 characters")
  .default("")
  .openapi({ description: "Free text for administrators", example: "staging app" });

export const clientApiKeyField = z
  .string({ error: required("client_api_key") })
  .min(1, "client_api_key is required")
  .max(256, "client_api_key is longer than 256 characters")
  .openapi({ description: "The domain's client API key", example: "9f2c…(64 hex characters)" });

const apiKey = z
  .string()
  .length(64)
  .openapi({ description: "Client API key, 64 hex characters; shown once" });

export const domainJson = z
  .object({
    id: z.string().openapi({ format: "uuid" }),
    domain: z.string(),
    memo: z.string(),
    created_at: z.string().openapi({ format: "date-time" }),
    updated_at: z.string().openapi({ format: "date-time" }),
  })
  .openapi("Domain");

const serverJson = z
  .object({
    id: z.string().openapi({ format: "uuid" }),
    advertise_address: z
      .string()
      .nullable()
      .openapi({ description: "HOP_SERVER_ADVERTISE_ADDR; null: unset" }),
  })
  .openapi("GatewayServer");

export const sessionJson = z
  .object({
    id: z.string(),
    domain: z.string(),
    remote_address: z.string(),
    protocol_version: z.number().int(),
    services: z.array(z.object({ name: z.string(), path_prefix: z.string() })),
    connected_at: z.string().openapi({ format: "date-time" }),
    state: z.enum(["active", "draining"]),
    in_flight_streams: z.number().int(),
    bytes_to_client: z.number().int(),
    bytes_from_client: z.number().int(),
    server: serverJson
      .optional()
      .openapi({ description: "The server of the gateway holding the session (PostgreSQL store only)" }),
  })
  .openapi("Session");

export const okResponse = z.object({ success: z.literal(true) }).openapi("Ok");
export const keyResponse = z
  .object({ success: z.literal(true), domain: z.string(), client_api_key: apiKey })
  .openapi("ClientApiKey");
export const existsResponse = z.object({ success: z.literal(true), exists: z.boolean() }).openapi("Exists");
export const certificateJson = z
  .object({
    state: z.enum(["pending", "issued", "failed"]),
    not_after: z.string().optional().openapi({ description: "Expiry of the issued certificate (ISO 8601)" }),
    reason: z.string().optional().openapi({ description: "The CA's reason when the last order failed" }),
    next_retry_at: z.string().optional().openapi({ description: "When a failed order is tried again" }),
  })
  .openapi("CertificateStatus");
export const statusResponse = z
  .object({
    success: z.literal(true),
    exists: z.boolean(),
    ...domainJson.partial().shape,
    live_sessions: z.number().int().optional().openapi({ description: "Tunnels connected now" }),
    sessions: z.array(sessionJson).optional(),
    labels: z.array(z.string()).optional().openapi({
      description:
        "Of a wildcard domain: the labels held now (or kept for a reconnect), on every server of the gateway when servers share the store (PostgreSQL, or --workers), else on this server",
    }),
    label_holders: z
      .array(z.object({ hostname: z.string(), server: serverJson }))
      .optional()
      .openapi({
        description:
          "Of a wildcard domain when servers share the store: which server holds each label (a label held on two servers by one client is listed once per server)",
      }),
    certificate: certificateJson.optional().openapi({
      description: "ACME certificate of the domain (absent with self-signed or file certificates)",
    }),
  })
  .openapi("DomainStatus");
export const listResponse = z
  .object({
    success: z.literal(true),
    domains: z.array(domainJson),
    next: z
      .string()
      .optional()
      .openapi({ description: "Pass as `after` for the next page; absent on the last" }),
  })
  .openapi("DomainList");
export const sessionsResponse = z
  .object({ success: z.literal(true), sessions: z.array(sessionJson) })
  .openapi("SessionList");
export const errorResponse = z
  .object({
    success: z.literal(false),
    error: z.object({ code: z.string().openapi({ example: "invalid_input" }), message: z.string() }),
    next_retry_at: z.string().optional().openapi({
      description:
        "Only on a certificate retry refused by the CA's hourly limit of failed orders (429): when the next order is allowed (ISO 8601)",
    }),
  })
  .openapi("Error");

export function toDomainJson(record: DomainRecord): z.infer<typeof domainJson> {
  return {
    id: record.id,
    domain: record.domain,
    memo: record.memo,
    created_at: record.createdAt,
    updated_at: record.updatedAt,
  };
}

export function toSessionJson(
  session: SessionInfo & { server?: SessionHolder },
): z.infer<typeof sessionJson> {
  return {
    id: session.id,
    domain: session.domain,
    remote_address: session.remoteAddress,
    protocol_version: session.protocolVersion,
    services: session.services.map((service) => ({ name: service.name, path_prefix: service.pathPrefix })),
    connected_at: session.connectedAt,
    state: session.state,
    in_flight_streams: session.inFlightStreams,
    bytes_to_client: session.bytesToClient,
    bytes_from_client: session.bytesFromClient,
    ...(session.server && {
      server: { id: session.server.id, advertise_address: session.server.advertiseAddress },
    }),
  };
}

export function toCertificateJson(status: CertificateStatus) {
  switch (status.state) {
    case "pending":
      return { state: status.state };
    case "issued":
      return {
        state: status.state,
        not_after: new Date(status.notAfterMs).toISOString(),
        ...(status.renewalFailure && {
          reason: status.renewalFailure.reason,
          next_retry_at: new Date(status.renewalFailure.nextRetryMs).toISOString(),
        }),
      };
    case "failed":
      return {
        state: status.state,
        reason: status.reason,
        next_retry_at: new Date(status.nextRetryMs).toISOString(),
      };
  }
}
