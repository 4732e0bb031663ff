import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { ListenAddress } from "../config/parsers.js";
import type { Logger } from "./logger.js";
import type { ReadinessReport } from "./readiness.js";

/** What the listener needs of a registry: prom-client's Registry, or the workers' aggregate. */
export interface MetricsSource {
  readonly contentType: string;
  metrics(): Promise<string>;
}

export interface MetricsListenerOptions {
  /** Where to listen; port 0 picks a free port. An empty host means every interface. */
  readonly listen: ListenAddress;
  readonly registry: MetricsSource;
  /** Asked on every `/readyz`; `createReadinessProbe` builds one from named checks. */
  readonly readiness: () => Promise<ReadinessReport>;
  readonly logger: Logger;
}

export interface MetricsListener {
  /** The bound port (useful when `listen.port` was 0). */
  readonly port: number;
  /** Stops listening and closes open connections (Prometheus keeps its connection alive); idempotent. */
  close(): Promise<void>;
}

/**
 * The operator's own plain-HTTP listener, never reachable through a tenant domain:
 * `GET /metrics` (Prometheus text format), `/healthz` (200 while the process serves HTTP),
 * `/readyz` (200 when every readiness check passes, else 503 naming the failing ones). Other
 * paths are 404; methods other than GET and HEAD are 405.
 */
export async function createMetricsListener(options: MetricsListenerOptions): Promise<MetricsListener> {
  const logger = options.logger.child({ component: "metrics" });
  const server = createServer({ requestTimeout: 30_000, headersTimeout: 10_000 }, (request, response) => {
    handle(options, request, response).catch((error: unknown) => {
      logger.error({ err: error, path: request.url }, "metrics listener request failed");
      if (!response.headersSent) send(response, 500, "text/plain; charset=utf-8", "internal error\n");
      else response.destroy();
    });
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.listen.port, options.listen.host || undefined, () => {
      server.off("error", reject);
      resolve();
    });
  });
  server.on("error", (error) => logger.error({ err: error }, "metrics listener error"));
  const { port } = server.address() as AddressInfo;
  logger.info({ address: options.listen.host || "*", port }, "metrics listener ready");
  let closing: Promise<void> | undefined;
  return {
    port,
    close: () =>
      (closing ??= new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      })),
  };
}

async function handle(options: MetricsListenerOptions, request: IncomingMessage, response: ServerResponse) {
  const path = (request.url ?? "/").split("?", 1)[0];
  if (path !== "/metrics" && path !== "/healthz" && path !== "/readyz") {
    return send(response, 404, "text/plain; charset=utf-8", "not found\n");
  }
  if (request.method !== "GET" && request.method !== "HEAD") {
    response.setHeader("allow", "GET, HEAD");
    return send(response, 405, "text/plain; charset=utf-8", "method not allowed\n");
  }
  switch (path) {
    case "/metrics":
      return send(response, 200, options.registry.contentType, await options.registry.metrics());
    case "/healthz":
      return send(response, 200, "text/plain; charset=utf-8", "ok\n");
    case "/readyz": {
      const report = await options.readiness();
      const body = report.ready
        ? { status: "ready", checks: report.checks }
        : {
            status: "not_ready",
            failing: report.checks.filter((check) => !check.ok).map((check) => check.name),
            checks: report.checks,
          };
      return send(response, report.ready ? 200 : 503, "application/json", `${JSON.stringify(body)}\n`);
    }
  }
}

function send(response: ServerResponse, status: number, contentType: string, body: string): void {
  response.writeHead(status, {
    "content-type": contentType,
    "content-length": Buffer.byteLength(body),
    "cache-control": "no-store",
  });
  response.end(response.req.method === "HEAD" ? undefined : body);
}
