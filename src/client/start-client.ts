import { rootCertificates } from "node:tls";
import { Registry } from "prom-client";
import { readCaFile } from "../config/ca-file.js";
import { clientSettings, type ClientConfig } from "../config/client-settings.js";
import { ConfigError } from "../config/config-error.js";
import type { ServiceSpec } from "../config/service-spec.js";
import { CleanupStack } from "../lib/cleanup-stack.js";
import { createGcPacer } from "../lib/gc-pacer.js";
import { compactHeap } from "../lib/heap-compaction.js";
import type { Logger } from "../lib/logger.js";
import { createMetricsListener } from "../lib/metrics-listener.js";
import { createReadinessProbe } from "../lib/readiness.js";
import { HOPGATE_VERSION } from "../lib/version.js";
import { createBackendAgents } from "./backend-agents.js";
import { createClientMetrics } from "./metrics/client-metrics.js";
import { TunnelClient, type TunnelClientStatus } from "./tunnel-client.js";

export interface ClientHandle {
  readonly tunnel: TunnelClient;
  /** Port of the client's /metrics, /healthz and /readyz; undefined when off (the default). */
  readonly metricsPort: number | undefined;
  /** Drains in-flight requests (up to the configured shutdown timeout) and disconnects. */
  stop(): Promise<void>;
}

export interface ClientHooks {
  readonly onStatus?: (status: TunnelClientStatus) => void;
}

/**
 * Composition root of `hopgate client`: services, TLS trust, backend agents, the tunnel, and
 * the optional metrics listener.
 */
export async function startClient(
  config: ClientConfig,
  logger: Logger,
  hooks: ClientHooks = {},
): Promise<ClientHandle> {
  const services = servicesOf(config);
  const clientLogger = logger.child({ component: "client" });
  const cleanup = new CleanupStack();
  const agents = createBackendAgents();
  cleanup.push("backend agents", () => {
    agents.http.destroy();
    agents.https.destroy();
  });
  const registry = new Registry();
  const metrics = createClientMetrics({ registry, serviceNames: services.map((s) => s.name) });
  let connected = false;
  const tunnel = new TunnelClient({
    serverUrl: config.serverAddr,
    domain: config.domain,
    apiKey: config.apiKey,
    services,
    tls: { ca: trustedCas(config.caFile), rejectUnauthorized: !config.insecure },
    agents,
    clientVersion: `hopgate/${HOPGATE_VERSION}`,
    logger: logger.child({ component: "tunnel" }),
    pingIntervalMs: 15_000,
    pingTimeoutMs: 10_000,
    gcPacer: createGcPacer(),
    onRequestFinished: (record) => {
      metrics.requestFinished({
        service: record.service,
        status: record.status,
        durationMs: record.durationMs,
      });
      metrics.tunnelBytes("from_server", record.bytesFromServer);
      metrics.tunnelBytes("to_server", record.bytesToServer);
      // Guarded: the spread would build an object per request even with debug lines off.
      if (logger.isLevelEnabled("debug")) logger.debug({ component: "backend", ...record }, "request served");
    },
    onStatus: (status) => {
      if (status.t === "connected") {
        connected = true;
        metrics.tunnelConnected();
      } else if (status.t === "waiting") {
        if (connected) metrics.tunnelDisconnected();
        connected = false;
        metrics.reconnectScheduled(status.cause === "stopped" ? "other" : status.cause);
      }
      hooks.onStatus?.(status);
    },
  });
  try {
    const listener = config.metricsListen
      ? await createMetricsListener({
          listen: config.metricsListen,
          registry,
          readiness: createReadinessProbe({
            checks: [{ name: "tunnel", check: () => assertConnected(connected) }],
          }),
          logger,
        })
      : undefined;
    if (listener) cleanup.push("metrics listener", () => listener.close());
    if (config.insecure) {
      clientLogger.warn(
        "server certificate verification is OFF (--insecure / HOP_CLIENT_INSECURE): development only",
      );
    }
    clientLogger.info(
      {
        server: config.serverAddr,
        domain: config.domain,
        services: services.map((s) => `${s.name}:${s.pathPrefix}=${s.target.origin}`),
        metrics_port: listener?.port,
      },
      "starting HopGate client",
    );
    // Start-up's garbage is dead now: give its pages back before the client idles.
    compactHeap();
    tunnel.start();
    return {
      tunnel,
      metricsPort: listener?.port,
      stop: async () => {
        await tunnel.stop(config.shutdownTimeoutSeconds * 1000);
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

function assertConnected(connected: boolean): void {
  if (!connected) throw new Error("no tunnel to the server");
}

/** `--service` entries plus `HOP_CLIENT_LOCAL_TARGET` as the service "web" on "/". */
function servicesOf(config: ClientConfig): ServiceSpec[] {
  const services = [...config.services];
  if (config.localTarget) {
    if (services.some((s) => s.name === "web")) {
      throw new ConfigError(
        'HOP_CLIENT_LOCAL_TARGET conflicts with a --service named "web": use one of them',
      );
    }
    services.push({ name: "web", pathPrefix: "/", target: config.localTarget });
  }
  if (services.length === 0) {
    throw new ConfigError("no local service: set HOP_CLIENT_LOCAL_TARGET (host:port) or --service name=URL");
  }
  const names = new Set<string>();
  for (const service of services) {
    if (names.has(service.name)) throw new ConfigError(`service "${service.name}" is defined twice`);
    names.add(service.name);
  }
  return services;
}

function trustedCas(caFile: string | undefined): string[] | undefined {
  if (!caFile) return undefined;
  return [...rootCertificates, readCaFile(caFile, clientSettings.caFile)];
}
