import { rootCertificates } from "node:tls";
import { Registry } from "prom-client";
import { readCaFile } from "../config/ca-file.js";
import type { ClientFile } from "../config/client-file.js";
import type { ClientProcessConfig } from "../config/client-process-settings.js";
import { clientSettings, type ClientConfig } from "../config/client-settings.js";
import { domainPlanFromSettings, type DomainPlan } from "../config/domain-plan.js";
import { serviceOrigin } from "../config/service-spec.js";
import { CleanupStack } from "../lib/cleanup-stack.js";
import { createGcPacer } from "../lib/gc-pacer.js";
import { compactHeap } from "../lib/heap-compaction.js";
import type { Logger } from "../lib/logger.js";
import { createMetricsListener } from "../lib/metrics-listener.js";
import { createReadinessProbe } from "../lib/readiness.js";
import { HOPGATE_VERSION } from "../lib/version.js";
import { createBackendAgents } from "./backend-agents.js";
import type { BackendExchangeRecord } from "./backend-exchange.js";
import { DomainTunnels, type ReloadSummary } from "./domain-tunnels.js";
import { startInspectorServer } from "./inspector/inspector-server.js";
import { RequestLog } from "./inspector/request-log.js";
import { createClientMetrics } from "./metrics/client-metrics.js";
import type { ClientSummary } from "./terminal-view.js";
import type { TunnelClient, TunnelClientStatus } from "./tunnel-client.js";
import { GatewayServers } from "./gateway-servers.js";
import { createTunnelSessionPool, type TunnelSessionPool } from "./tunnel-session-pool.js";

/** Flags and environment for one domain, or a config file for any number of them. */
export type ClientStartConfig = ClientConfig | (ClientProcessConfig & { readonly file: ClientFile });

export interface ClientHandle {
  /** The first domain's tunnel (the only one without a config file). */
  readonly tunnel: TunnelClient;
  /** Every domain's tunnel, by domain. */
  readonly tunnels: ReadonlyMap<string, TunnelClient>;
  /** Port of the client's /metrics, /healthz and /readyz; undefined when off (the default). */
  readonly metricsPort: number | undefined;
  /** The request inspector's URL; undefined when off. */
  readonly inspectorUrl: string | undefined;
  /**
   * Moves to a re-read config file (SIGHUP): unchanged domains keep their tunnels. A file that
   * names another server or server CA is refused: that needs a restart.
   */
  reload(file: ClientFile): Promise<ReloadSummary>;
  /** Drains in-flight requests (up to the configured shutdown timeout) and disconnects. */
  stop(): Promise<void>;
}

export interface ClientHooks {
  readonly onStatus?: (status: TunnelClientStatus, domain: string) => void;
  /**
   * Whether a person watches this client (stdout is a terminal): turns on `--inspect auto`.
   * False when omitted.
   */
  readonly interactive?: boolean;
  /** Every request a local service answered, with its domain. */
  readonly onRequestFinished?: (record: BackendExchangeRecord, domain: string) => void;
  /** What the client serves, once its listeners are up and before the tunnels connect. */
  readonly onStarted?: (summary: ClientSummary) => void;
  /** The servers of the gateway the client now holds tunnels to (the configured one first). */
  readonly onServers?: (servers: readonly string[]) => void;
}

/**
 * Composition root of `hopgate client`: services, TLS trust, backend agents, one tunnel per
 * domain over shared HTTP/2 connections, and the optional metrics listener.
 */
export async function startClient(
  config: ClientStartConfig,
  logger: Logger,
  hooks: ClientHooks = {},
): Promise<ClientHandle> {
  const target = targetOf(config);
  const clientLogger = logger.child({ component: "client" });
  const cleanup = new CleanupStack();
  const agents = createBackendAgents();
  cleanup.push("backend agents", () => {
    agents.http.destroy();
    agents.https.destroy();
    agents.http2.destroy();
  });
  const registry = new Registry();
  const serviceNames = [...new Set(target.domains.flatMap((d) => d.services.map((s) => s.name)))];
  const metrics = createClientMetrics({ registry, serviceNames });
  const tls = { ca: target.ca, rejectUnauthorized: !config.insecure };
  const servers = new GatewayServers({
    bootstrap: target.serverAddr,
    follow: !config.singleServer,
    logger: clientLogger,
  });
  // One pool of HTTP/2 connections per server, shared by the tunnels of every domain.
  const pools = new Map<string, TunnelSessionPool>();
  const poolOf = (server: string): TunnelSessionPool => {
    let pool = pools.get(server);
    if (!pool) {
      pool = createTunnelSessionPool({ serverUrl: server, tls, connectTimeoutMs: 15_000 });
      pools.set(server, pool);
    }
    return pool;
  };
  servers.subscribe((wanted) => {
    for (const server of pools.keys()) if (!wanted.includes(server)) pools.delete(server);
    hooks.onServers?.(wanted);
  });
  // Tunnels up, by domain then server: a domain is online while any of its tunnels is.
  const connected = new Map<string, Set<string>>();
  const gcPacer = createGcPacer();
  const inspectListen =
    config.inspect === "auto" ? (hooks.interactive ? DEFAULT_INSPECT : null) : config.inspect;
  const requestLog = inspectListen
    ? new RequestLog({ maxRequests: config.inspectMaxRequests, maxBodyBytes: config.inspectMaxBodyBytes })
    : undefined;
  const tunnels = new DomainTunnels({
    shutdownTimeoutMs: config.shutdownTimeoutSeconds * 1000,
    servers,
    tunnelOptions: (plan, { server, bootstrap }) => ({
      serverUrl: server,
      domain: plan.domain,
      apiKey: plan.apiKey,
      services: plan.services,
      tls,
      sessions: poolOf(server),
      announcePublicUrl: bootstrap,
      onServers: (list, initial) => servers.advertised(list, server, initial),
      agents,
      clientVersion: `hopgate/${HOPGATE_VERSION}`,
      // The configured server goes unnamed, as with one server; the others' lines name theirs.
      logger: logger.child({ component: "tunnel", domain: plan.domain, ...(!bootstrap && { server }) }),
      pingIntervalMs: 15_000,
      pingTimeoutMs: 10_000,
      gcPacer,
      tapExchange: requestLog && ((head, service) => requestLog.tap(plan.domain, head, service)),
      onRequestFinished: (record) => {
        metrics.requestFinished({
          service: record.service,
          status: record.status,
          durationMs: record.durationMs,
        });
        metrics.tunnelBytes("from_server", record.bytesFromServer);
        metrics.tunnelBytes("to_server", record.bytesToServer);
        hooks.onRequestFinished?.(record, plan.domain);
        // Guarded: the spread would build an object per request even with debug lines off.
        if (logger.isLevelEnabled("debug")) {
          // As the server's access log: the query (it may carry tokens) only with HOP_LOG_QUERY.
          const path = config.logQuery ? record.path : record.path.split("?", 1)[0];
          logger.debug({ component: "backend", domain: plan.domain, ...record, path }, "request served");
        }
      },
      onStatus: (status) => {
        const wasUp = allUp(connected, tunnels.tunnels);
        const up = connected.get(plan.domain) ?? new Set<string>();
        connected.set(plan.domain, up);
        if (status.t === "connected") up.add(server);
        else up.delete(server);
        // The gauge is 1 while every domain has a tunnel up.
        const isUp = allUp(connected, tunnels.tunnels);
        if (isUp && !wasUp) metrics.tunnelConnected();
        if (!isUp && wasUp) metrics.tunnelDisconnected();
        if (status.t === "waiting") {
          metrics.reconnectScheduled(status.cause === "stopped" ? "other" : status.cause);
        }
        // The view hears a domain go down only when its last tunnel did.
        if (status.t === "connected" || up.size === 0) hooks.onStatus?.(status, plan.domain);
      },
    }),
  });
  try {
    const listener = config.metricsListen
      ? await createMetricsListener({
          listen: config.metricsListen,
          registry,
          readiness: createReadinessProbe({
            checks: [{ name: "tunnel", check: () => assertConnected(connected, tunnels.tunnels) }],
          }),
          logger,
        })
      : undefined;
    if (listener) cleanup.push("metrics listener", () => listener.close());
    const inspector =
      inspectListen && requestLog ? await startInspectorServer(inspectListen, requestLog) : undefined;
    if (inspector) {
      cleanup.push("inspector", () => inspector.close());
      if (!isLoopback(inspectListen?.host ?? "")) {
        clientLogger.warn(
          { inspector: inspector.url },
          "the request inspector listens beyond loopback: whoever reaches it sees and replays request bodies",
        );
      }
    }
    if (config.insecure) {
      clientLogger.warn(
        "server certificate verification is OFF (--insecure / HOP_CLIENT_INSECURE): development only",
      );
    }
    clientLogger.info(
      {
        server: target.serverAddr,
        ...(target.file === undefined ? {} : { config_file: target.file }),
        domains: target.domains.map((d) => d.domain),
        services: target.domains.flatMap((d) =>
          d.services.map((s) => `${d.domain}:${s.name}:${s.pathPrefix}=${serviceOrigin(s)}`),
        ),
        metrics_port: listener?.port,
        inspector: inspector?.url ?? "off",
      },
      "starting HopGate client",
    );
    hooks.onStarted?.({
      server: target.serverAddr,
      configFile: target.file,
      domains: target.domains,
      inspectorUrl: inspector?.url,
      metricsPort: listener?.port,
    });
    // Start-up's garbage is dead now: give its pages back before the client idles.
    compactHeap();
    await tunnels.apply(target.domains);
    const first = tunnels.tunnels.get(target.domains[0]?.domain ?? "") as TunnelClient;
    return {
      tunnel: first,
      get tunnels() {
        return tunnels.tunnels;
      },
      metricsPort: listener?.port,
      inspectorUrl: inspector?.url,
      reload: async (file) => {
        const next = targetOf({ ...config, file });
        if (next.serverAddr !== target.serverAddr || next.caKey !== target.caKey) {
          throw new Error("the server or its CA changed: restart the client to apply that");
        }
        for (const domain of connected.keys()) {
          if (!next.domains.some((d) => d.domain === domain)) connected.delete(domain);
        }
        return tunnels.apply(next.domains);
      },
      stop: async () => {
        await tunnels.stop();
        await cleanup.run((name, error) =>
          clientLogger.error({ err: error, step: name }, "shutdown step failed"),
        );
      },
    };
  } catch (error) {
    await cleanup.run();
    throw error;
  }
}

/** `--inspect auto` for an interactive client: ngrok's inspector address. */
const DEFAULT_INSPECT = { host: "127.0.0.1", port: 4040 };

function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || host.startsWith("127.");
}

function allUp(connected: ReadonlyMap<string, ReadonlySet<string>>, tunnels: ReadonlyMap<string, unknown>) {
  return tunnels.size > 0 && [...tunnels.keys()].every((domain) => (connected.get(domain)?.size ?? 0) > 0);
}

function assertConnected(
  connected: ReadonlyMap<string, ReadonlySet<string>>,
  tunnels: ReadonlyMap<string, unknown>,
): void {
  const down = [...tunnels.keys()].filter((domain) => (connected.get(domain)?.size ?? 0) === 0);
  if (down.length > 0) throw new Error(`no tunnel to the server for ${down.join(", ")}`);
}

interface ClientTarget {
  readonly serverAddr: string;
  readonly file: string | undefined;
  readonly ca: string[] | undefined;
  /** Identity of the trusted CAs, to tell whether a reload changes them. */
  readonly caKey: string;
  readonly domains: readonly DomainPlan[];
}

function targetOf(config: ClientStartConfig): ClientTarget {
  const envCa = config.caFile ? readCaFile(config.caFile, clientSettings.caFile) : undefined;
  if ("file" in config) {
    const extra = [envCa, config.file.serverCa].filter((pem) => pem !== undefined);
    return {
      serverAddr: config.file.serverAddr,
      file: config.file.path,
      ca: extra.length === 0 ? undefined : [...rootCertificates, ...extra],
      caKey: extra.join("\n"),
      domains: config.file.domains,
    };
  }
  return {
    serverAddr: config.serverAddr,
    file: undefined,
    ca: envCa === undefined ? undefined : [...rootCertificates, envCa],
    caKey: envCa ?? "",
    domains: [domainPlanFromSettings(config)],
  };
}
