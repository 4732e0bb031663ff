import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { getRequestListener } from "@hono/node-server";
import { methodNotAllowed } from "hono/method-not-allowed";
import { normalizeDomain } from "../../lib/domain-name.js";
import { HopGateError } from "../../lib/hopgate-error.js";
import type { Logger } from "../../lib/logger.js";
import type { DomainRepository } from "../store/domain-repository.js";
import type { SessionDirectory } from "../tunnel/session-directory.js";
import type { AccessRepository } from "../store/access-repository.js";
import { addAccessRoutes } from "./access-routes.js";
import { addCertificateRoutes } from "./certificate-routes.js";
import { adminAuth, type AdminAuthOptions } from "./admin-auth.js";
import { errorResponse } from "./admin-error.js";
import {
  addDomainRoutes,
  type CertificateDirectory,
  type GatewayLabelDirectory,
  type LabelDirectory,
} from "./domain-routes.js";
import { adminBodyLimit, requireJsonBody } from "./request-guards.js";
import { errorResponses, jsonResponse } from "./route-helpers.js";
import type { GatewaySessions } from "../cluster/server-registry.js";
import { addSessionRoutes } from "./session-routes.js";

export const ADMIN_BASE_PATH = "/api/v1/admin";

export interface AdminApiOptions {
  readonly domains: DomainRepository;
  /** Visitor access policies; absent: the /domains/{domain}/access routes are not offered. */
  readonly access?: AccessRepository;
  /** Bearer key; unset or empty disables the API (every request answers 503). */
  readonly adminApiKey?: string;
  /** The server's main domain, which cannot be registered. */
  readonly mainDomain: string;
  readonly sessions?: SessionDirectory;
  /** The sessions of every server of the gateway (PostgreSQL store); absent: `sessions` alone. */
  readonly gatewaySessions?: GatewaySessions;
  /** Certificate status per domain, shown by /domains/status, and its retry (ACME mode only). */
  readonly certificates?: CertificateDirectory;
  /** Labels held under wildcard domains, shown by /domains/status of a wildcard. */
  readonly labels?: LabelDirectory;
  /** The labels of every server of the gateway (shared store); absent: `labels` alone. */
  readonly gatewayLabels?: GatewayLabelDirectory;
  readonly logger: Logger;
  /** Failed-login limit per address and its events (metrics); none: no limit. */
  readonly auth?: AdminAuthOptions;
}

export interface AdminApi {
  /** Node request listener for HTTP/1.1 and HTTP/2 (compat API) servers; mount on `/api/v1/admin/`. */
  readonly handle: (
    req: IncomingMessage | Http2ServerRequest,
    res: ServerResponse | Http2ServerResponse,
  ) => void;
  /** The same app as a fetch handler (WHATWG Request in, Response out). */
  readonly fetch: (request: Request) => Promise<Response>;
  /** Every route it serves (method, full path), each an operation of /openapi.json. */
  readonly routes: ReadonlyArray<{ readonly method: string; readonly path: string }>;
}

/**
 * The admin API under /api/v1/admin (ARCHITECTURE.md, Admin API): Hono with zod-openapi, so the
 * schemas that validate requests also generate `GET /api/v1/admin/openapi.json`. Order of
 * checks: 405 for a known path with another method, then authentication (503 disabled, 429
 * blocked address, 401),
 * body size (413), media type (415), request schema (400), and the route itself.
 */
export function createAdminApi(options: AdminApiOptions): AdminApi {
  const logger = options.logger;
  const main = normalizeDomain(options.mainDomain, { allowSingleLabel: true });
  const mainDomain = main.ok ? main.domain : options.mainDomain.trim().toLowerCase();
  const app = new OpenAPIHono({
    defaultHook: (result) => {
      if (!result.success)
        throw new HopGateError("invalid_input", describeIssue(result.error, result.target));
    },
  }).basePath(ADMIN_BASE_PATH);

  app.onError((error, c) => errorResponse(c, error, logger));
  app.notFound((c) =>
    errorResponse(c, new HopGateError("not_found", `no admin route ${c.req.method} ${c.req.path}`), logger),
  );
  app.use(
    methodNotAllowed({
      app,
      onMethodNotAllowed: (c, methods) => {
        const allow = methods.join(", ");
        const error = new HopGateError(
          "method_not_allowed",
          `${c.req.method} is not allowed on ${c.req.path}; use ${allow}`,
        );
        return errorResponse(c, error, logger, { Allow: allow });
      },
    }),
  );
  app.use(adminAuth(options.adminApiKey, options.auth), adminBodyLimit(), requireJsonBody());
  app.openAPIRegistry.registerComponent("securitySchemes", "bearer", { type: "http", scheme: "bearer" });
  addDomainRoutes(app, {
    domains: options.domains,
    sessions: options.sessions,
    certificates: options.certificates,
    labels: options.labels,
    gatewayLabels: options.gatewayLabels,
    mainDomain,
    logger,
  });
  addCertificateRoutes(app, { domains: options.domains, certificates: options.certificates, logger });
  if (options.access) addAccessRoutes(app, { access: options.access, mainDomain, logger });
  addSessionRoutes(app, { sessions: options.sessions, gatewaySessions: options.gatewaySessions, mainDomain });
  addDocumentRoute(app);

  const handle = getRequestListener(app.fetch, { overrideGlobalObjects: false });
  return {
    handle: (req, res) => {
      handle(req, res).catch((error: unknown) => {
        logger.error({ err: error }, "admin response failed");
        res.destroy();
      });
    },
    fetch: async (request) => app.fetch(request),
    routes: servedRoutes(app),
  };
}

/** Method and path of each route, once (Hono lists a route's validators as routes too). */
function servedRoutes(app: OpenAPIHono): AdminApi["routes"] {
  const seen = new Map<string, AdminApi["routes"][number]>();
  for (const { method, path } of app.routes) {
    if (method !== "ALL") seen.set(`${method} ${path}`, { method, path });
  }
  return [...seen.values()];
}

/** `GET /openapi.json`: the document, itself one of its operations (getOpenApiDocument). */
function addDocumentRoute(app: OpenAPIHono): void {
  const config = {
    openapi: "3.1.0",
    info: { title: "HopGate admin API", version: "1" },
    security: [{ bearer: [] }],
  };
  const route = createRoute({
    method: "get",
    path: "/openapi.json",
    operationId: "getOpenApiDocument",
    summary: "This OpenAPI 3.1 document",
    responses: {
      200: jsonResponse(z.looseObject({ openapi: z.string() }), "The document"),
      ...errorResponses(),
    },
  });
  app.openapi(route, (c) => c.json(app.getOpenAPI31Document(config), 200));
}

const TARGET_NAMES: Record<string, string> = { json: "body", query: "query", param: "path" };

/** First validation problem as one line, prefixed with its field unless the message names it. */
function describeIssue(error: z.ZodError, target: string): string {
  const issue = error.issues[0];
  if (!issue) return `invalid ${TARGET_NAMES[target] ?? target}`;
  const field = issue.path.map(String).join(".") || (TARGET_NAMES[target] ?? target);
  return issue.message.startsWith(field) ? issue.message : `${field}: ${issue.message}`;
}
