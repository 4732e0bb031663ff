import { readFileSync } from "node:fs";
import { Registry } from "prom-client";
import type { ServerConfig } from "../config/server-settings.js";
import { ConfigError } from "../config/config-error.js";
import { createAccessLog } from "../lib/access-log.js";
import type { Logger } from "../lib/logger.js";
import { createMetricsListener } from "../lib/metrics-listener.js";
import { createReadinessProbe } from "../lib/readiness.js";
import { DEFAULT_TUNNEL_LIMITS } from "../protocol/limits.js";
import { createAdminApi } from "./admin/admin-api.js";
import { startEdge } from "./edge/edge.js";
import type { TlsListener } from "./edge/tls-listener.js";
import { createProxyObserver } from "./metrics/proxy-observer.js";
import { createServerMetrics } from "./metrics/server-metrics.js";
import { createProxy } from "./proxy/proxy.js";
import { RegisteredDomains } from "./registered-domains.js";
import { openDatabase } from "./store/database.js";
import { createDomainRepository, type DomainRepository } from "./store/domain-repository.js";
import { SessionRegistry } from "./tunnel/session-registry.js";
import { createTunnelRoutes, type TunnelAuthenticator } from "./tunnel/tunnel-endpoint.js";

export interface ServerHandle {
  readonly httpsPort: number;
  /** Port of /metrics, /healthz and /readyz; undefined when HOP_METRICS_LISTEN is off. */
  readonly metricsPort: number | undefined;
  readonly registry: SessionRegistry;
  readonly domains: DomainRepository;
  /** Stops accepting, drains tunnels for up to `drainMs`, closes everything. */
  stop(drainMs?: number): Promise<void>;
}

const DOMAIN_REFRESH_INTERVAL_MS = 30_000;

/**
 * Composition root of `hopgate server`: reading it shows the architecture. The store, the
 * registered-domain set, the tunnel session registry, the proxy, the tunnel endpoint and the
 * admin API, all behind the one TLS listener.
 */
export async function startServer(config: ServerConfig, logger: Logger): Promise<ServerHandle> {
  const serverLogger = logger.child({ component: "server" });
  const database = await openDatabase({ dsn: config.dbDsn, dataDir: config.dataDir, logger });
  const registered = new RegisteredDomains();
  const registry = new SessionRegistry();
  const domains = createDomainRepository(database, {
    onChange: ({ type, domain }) => {
      if (type === "registered") return registered.add(domain);
      if (type === "unregistered") registered.delete(domain);
      const closed = registry.closeDomain(
        domain,
        type === "key_rotated" ? "client key rotated" : "domain unregistered",
      );
      if (closed > 0)
        serverLogger.info({ domain, closed, change: type }, "closed tunnels of a changed domain");
    },
  });
  registered.replaceAll(await domains.allDomains());
  registered.startRefreshing(() => domains.allDomains(), DOMAIN_REFRESH_INTERVAL_MS, serverLogger);
  const metricsRegistry = new Registry();
  const metrics = createServerMetrics({
    registry: metricsRegistry,
    isRegisteredDomain: (domain) => registered.has(domain),
  });
  metrics.setSessionSource(() => registry.list());

  const authenticator: TunnelAuthenticator = {
    async authenticate(domain, apiKey) {
      if (await domains.authenticate(domain, apiKey)) return "ok";
      return (await domains.find(domain)) ? "invalid_key" : "unknown_domain";
    },
  };
  const shutdown = new AbortController();
  let draining = false;
  const edge: TlsListener = await startEdge({
    listen: config.httpsListen,
    tls: tlsOptions(config),
    mainDomain: config.domain,
    debug: config.debug,
    logger: logger.child({ component: "edge" }),
    shutdownSignal: shutdown.signal,
    tunnelRoutes: createTunnelRoutes({
      authenticator,
      registry,
      limits: { ...DEFAULT_TUNNEL_LIMITS, maxStreams: config.maxStreamsPerTunnel },
      handshakeTimeoutMs: config.handshakeTimeoutSeconds * 1000,
      pingIntervalMs: config.pingIntervalSeconds * 1000,
      pingTimeoutMs: config.pingTimeoutSeconds * 1000,
      logger: logger.child({ component: "tunnel" }),
      isDraining: () => draining,
      onHandshake: (result) => metrics.handshake(result),
    }),
    admin: createAdminApi({
      domains,
      adminApiKey: config.adminApiKey,
      mainDomain: config.domain,
      sessions: registry,
      logger: logger.child({ component: "admin" }),
    }).handle,
    proxy: createProxy({
      lookup: registry,
      isRegistered: (domain) => registered.has(domain),
      proxyTimeoutMs: config.proxyTimeoutSeconds * 1000,
      onFinished: createProxyObserver({
        metrics,
        accessLog: createAccessLog({ logger, includeQuery: config.logQuery }),
      }),
    }),
  });
  const metricsListener = config.metricsListen
    ? await createMetricsListener({
        listen: config.metricsListen,
        registry: metricsRegistry,
        readiness: createReadinessProbe({
          checks: [
            { name: "store", check: () => database.ping() },
            { name: "https_listener", check: () => assertServing(draining) },
          ],
        }),
        logger,
      })
    : undefined;
  serverLogger.info({ https_port: edge.port, domain: config.domain }, "HopGate server listening");

  return {
    httpsPort: edge.port,
    metricsPort: metricsListener?.port,
    registry,
    domains,
    async stop(drainMs = 0) {
      draining = true;
      for (const session of registry.all()) session.drain(drainMs, "server shutting down");
      const deadline = Date.now() + drainMs;
      while (registry.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      shutdown.abort();
      for (const session of registry.all()) session.close("server stopped");
      registered.stop();
      await edge.close();
      await database.close();
      await metricsListener?.close();
    },
  };
}

/** Readiness of the TLS listener: bound since start-up, not ready once a shutdown drains it. */
function assertServing(draining: boolean): void {
  if (draining) throw new Error("draining for shutdown");
}

function tlsOptions(config: ServerConfig): { cert: string; key: string } {
  if (!config.tlsCertFile || !config.tlsKeyFile) {
    throw new ConfigError(
      "HOP_SERVER_TLS_CERT and HOP_SERVER_TLS_KEY are required until other certificate sources land",
    );
  }
  return { cert: readFileSync(config.tlsCertFile, "utf8"), key: readFileSync(config.tlsKeyFile, "utf8") };
}
