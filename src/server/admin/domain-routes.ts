import { createRoute, z, type OpenAPIHono } from "@hono/zod-openapi";
import type { Logger } from "../../lib/logger.js";
import { isWildcardPattern } from "../../lib/wildcard-domain.js";
import type { RetryResult } from "../certs/acme/acme-certificate-manager.js";
import type { CertificateStatus } from "../certs/acme/managed-domain.js";
import type { DomainRepository } from "../store/domain-repository.js";
import type { LabelHold } from "../subdomains/gateway-labels.js";
import type { SessionDirectory } from "../tunnel/session-directory.js";
import {
  bodyObject,
  clientApiKeyField,
  domainField,
  existsResponse,
  keyResponse,
  listResponse,
  memoField,
  okResponse,
  statusResponse,
  toCertificateJson,
  toDomainJson,
  toSessionJson,
} from "./admin-schemas.js";
import { errorResponses, jsonBody, jsonResponse } from "./route-helpers.js";

/**
 * Where the admin API reads a domain's certificate status (the ACME manager), with the failed
 * orders recorded by every server sharing the store.
 */
export interface CertificateDirectory {
  currentStatus(domain: string): Promise<CertificateStatus | undefined>;
  /** An admin's "retry now"; undefined for a domain without an ACME certificate here. */
  retryNow(domain: string): Promise<RetryResult | undefined>;
}

/** Where the admin API reads the labels held under a wildcard domain (src/server/subdomains/). */
export interface LabelDirectory {
  hostnamesOf(pattern: string): string[];
}

/** Where the admin API reads the labels held under a wildcard across the gateway (the shared store). */
export interface GatewayLabelDirectory {
  holdsOf(pattern: string): Promise<LabelHold[]>;
}

export interface DomainRoutesOptions {
  readonly domains: DomainRepository;
  readonly sessions?: SessionDirectory;
  readonly certificates?: CertificateDirectory;
  readonly labels?: LabelDirectory;
  /** Set when servers share the store: a wildcard's status lists the labels of every server. */
  readonly gatewayLabels?: GatewayLabelDirectory;
  /** Normalized main domain of the server; it cannot be registered. */
  readonly mainDomain: string;
  readonly logger: Logger;
}

const MAX_PAGE_SIZE = 1000;
const DEFAULT_PAGE_SIZE = 100;
const LIMIT_MESSAGE = `limit must be a whole number from 1 to ${MAX_PAGE_SIZE}`;

function domainRouteDefinitions(mainDomain: string) {
  const domain = domainField(mainDomain);
  const domainQuery = z.object({ domain });
  return {
    register: createRoute({
      operationId: "registerDomain",
      method: "post",
      path: "/domains/register",
      summary: "Register a domain and issue its client API key",
      request: { body: jsonBody(bodyObject({ domain, memo: memoField })) },
      responses: {
        200: jsonResponse(keyResponse, "Registered; the key is shown only now"),
        ...errorResponses(400, 409, 413, 415),
      },
    }),
    unregister: createRoute({
      operationId: "unregisterDomain",
      method: "post",
      path: "/domains/unregister",
      summary: "Unregister a domain with its client API key",
      request: { body: jsonBody(bodyObject({ domain, client_api_key: clientApiKeyField })) },
      responses: {
        200: jsonResponse(okResponse, "Unregistered"),
        ...errorResponses(400, 403, 404, 413, 415),
      },
    }),
    exists: createRoute({
      operationId: "domainExists",
      method: "get",
      path: "/domains/exists",
      summary: "Whether a domain is registered",
      request: { query: domainQuery },
      responses: { 200: jsonResponse(existsResponse, "Answer"), ...errorResponses(400) },
    }),
    status: createRoute({
      operationId: "domainStatus",
      method: "get",
      path: "/domains/status",
      summary: "A domain's record and live tunnel sessions (exists=false when unknown, as the original)",
      description:
        "`live_sessions` and `sessions` are this server's. A wildcard's `labels` are those held on every server of the gateway when servers share the store (PostgreSQL, or --workers), each server in `label_holders`; 503 while the store does not answer. Otherwise this server's.",
      request: { query: domainQuery },
      responses: { 200: jsonResponse(statusResponse, "Status"), ...errorResponses(400) },
    }),
    list: createRoute({
      operationId: "listDomains",
      method: "get",
      path: "/domains",
      summary: "List registered domains in name order, a page at a time",
      request: {
        query: z.object({
          limit: z.coerce
            .number({ error: LIMIT_MESSAGE })
            .int(LIMIT_MESSAGE)
            .min(1, LIMIT_MESSAGE)
            .max(MAX_PAGE_SIZE, LIMIT_MESSAGE)
            .default(DEFAULT_PAGE_SIZE),
          after: z.string().max(1024).optional().openapi({ description: "`next` of the previous page" }),
        }),
      },
      responses: { 200: jsonResponse(listResponse, "One page"), ...errorResponses(400) },
    }),
    rotateKey: createRoute({
      operationId: "rotateClientApiKey",
      method: "post",
      path: "/domains/rotate-key",
      summary: "Issue a new client API key; the old one stops working",
      request: { body: jsonBody(bodyObject({ domain })) },
      responses: {
        200: jsonResponse(keyResponse, "New key, shown only now"),
        ...errorResponses(400, 404, 413, 415),
      },
    }),
    revoke: createRoute({
      operationId: "revokeDomain",
      method: "delete",
      path: "/domains/{domain}",
      summary: "Revoke a domain without its client API key",
      request: { params: z.object({ domain: domain.openapi({ param: { name: "domain", in: "path" } }) }) },
      responses: { 200: jsonResponse(okResponse, "Revoked"), ...errorResponses(400, 404) },
    }),
  };
}

/** The domain routes of the admin API (original four plus list, rotate-key and revoke). */
export function addDomainRoutes(app: OpenAPIHono, options: DomainRoutesOptions): void {
  const { domains, sessions, certificates, labels, gatewayLabels, logger } = options;
  const routes = domainRouteDefinitions(options.mainDomain);

  app.openapi(routes.register, async (c) => {
    const { domain, memo } = c.req.valid("json");
    const { clientApiKey } = await domains.register(domain, memo);
    logger.info({ domain }, "domain registered");
    return c.json({ success: true as const, domain, client_api_key: clientApiKey }, 200);
  });

  app.openapi(routes.unregister, async (c) => {
    const { domain, client_api_key } = c.req.valid("json");
    await domains.unregister(domain, client_api_key);
    logger.info({ domain }, "domain unregistered");
    return c.json({ success: true as const }, 200);
  });

  app.openapi(routes.exists, async (c) => {
    const record = await domains.find(c.req.valid("query").domain);
    return c.json({ success: true as const, exists: record !== undefined }, 200);
  });

  app.openapi(routes.status, async (c) => {
    const record = await domains.find(c.req.valid("query").domain);
    if (!record) return c.json({ success: true as const, exists: false }, 200);
    // A wildcard's tunnels are those of its labels.
    const wildcard = isWildcardPattern(record.domain);
    const held = wildcard ? (labels?.hostnamesOf(record.domain) ?? []) : undefined;
    const live = held
      ? sessions && held.flatMap((hostname) => sessions.list({ domain: hostname }))
      : sessions?.list({ domain: record.domain });
    const holds = wildcard ? await gatewayLabels?.holdsOf(record.domain) : undefined;
    const allLabels = held && [...new Set([...held, ...(holds ?? []).map((hold) => hold.hostname)])];
    const certificate = await certificates?.currentStatus(record.domain);
    return c.json(
      {
        success: true as const,
        exists: true,
        ...toDomainJson(record),
        ...(live && { live_sessions: live.length, sessions: live.map(toSessionJson) }),
        ...(allLabels && { labels: allLabels.sort() }),
        ...(holds && { label_holders: holds.map(toLabelHolderJson) }),
        ...(certificate && { certificate: toCertificateJson(certificate) }),
      },
      200,
    );
  });

  app.openapi(routes.list, async (c) => {
    const { limit, after } = c.req.valid("query");
    const page = await domains.list({ limit, after });
    return c.json(
      {
        success: true as const,
        domains: page.items.map(toDomainJson),
        ...(page.next && { next: page.next }),
      },
      200,
    );
  });

  app.openapi(routes.rotateKey, async (c) => {
    const { domain } = c.req.valid("json");
    const clientApiKey = await domains.rotateKey(domain);
    logger.info({ domain }, "client API key rotated");
    return c.json({ success: true as const, domain, client_api_key: clientApiKey }, 200);
  });

  app.openapi(routes.revoke, async (c) => {
    const { domain } = c.req.valid("param");
    await domains.revoke(domain);
    logger.info({ domain }, "domain revoked");
    return c.json({ success: true as const }, 200);
  });
}

function toLabelHolderJson(hold: LabelHold) {
  return {
    hostname: hold.hostname,
    server: { id: hold.server.id, advertise_address: hold.server.advertiseAddress },
  };
}
