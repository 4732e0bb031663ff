import { readFileSync } from "node:fs";
import type { ServerConfig } from "../config/server-settings.js";
import { ConfigError } from "../config/config-error.js";
import type { Logger } from "../lib/logger.js";
import { DEFAULT_TUNNEL_LIMITS } from "../protocol/limits.js";
import { createAdminApi } from "./admin/admin-api.js";
import { startEdge } from "./edge/edge.js";
import type { TlsListener } from "./edge/tls-listener.js";
import { createProxy } from "./proxy/proxy.js";
import { RegisteredDomains } from "./registered-domains.js";
import { openDatabase } from "./store/database.js";
import { createDomainRepository, type DomainRepository } from "./store/domain-repository.js";
import { SessionRegistry } from "./tunnel/session-registry.js";
import { createTunnelRoutes, type TunnelAuthenticator } from "./tunnel/tunnel-endpoint.js";

export interface ServerHandle {
  readonly httpsPort: number;
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
      if (closed > 0) logger.info({ domain, closed, change: type }, "closed tunnels of a changed domain");
    },
  });
  registered.replaceAll(await domains.allDomains());
  registered.startRefreshing(() => domains.allDomains(), DOMAIN_REFRESH_INTERVAL_MS, logger);

  const authenticator: TunnelAuthenticator = {
    async authenticate(domain, apiKey) {
      if (await domains.authenticate(domain, apiKey)) return "ok";
      return (await domains.find(domain)) ? "invalid_key" : "unknown_domain";
    },
  };
  const shutdown = new AbortController();
  let draining = false;
  const proxyLogger = logger.child({ component: "proxy" });
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
      onFinished: (record) => proxyLogger.info(record, "request"),
    }),
  });
  logger.info({ https_port: edge.port, domain: config.domain }, "HopGate server listening");

  return {
    httpsPort: edge.port,
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
    },
  };
}

function tlsOptions(config: ServerConfig): { cert: string; key: string } {
  if (!config.tlsCertFile || !config.tlsKeyFile) {
    throw new ConfigError(
      "HOP_SERVER_TLS_CERT and HOP_SERVER_TLS_KEY are required until other certificate sources land",
    );
  }
  return { cert: readFileSync(config.tlsCertFile, "utf8"), key: readFileSync(config.tlsKeyFile, "utf8") };
}
