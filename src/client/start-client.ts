import { readFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import { rootCertificates } from "node:tls";
import type { ClientConfig } from "../config/client-settings.js";
import { ConfigError } from "../config/config-error.js";
import type { ServiceSpec } from "../config/service-spec.js";
import type { Logger } from "../lib/logger.js";
import { HOPGATE_VERSION } from "../lib/version.js";
import { TunnelClient, type TunnelClientStatus } from "./tunnel-client.js";

export interface ClientHandle {
  readonly tunnel: TunnelClient;
  /** Drains in-flight requests (up to the configured shutdown timeout) and disconnects. */
  stop(): Promise<void>;
}

export interface ClientHooks {
  readonly onStatus?: (status: TunnelClientStatus) => void;
}

/** Composition root of `hopgate client`: services, TLS trust, backend agents, the tunnel. */
export function startClient(config: ClientConfig, logger: Logger, hooks: ClientHooks = {}): ClientHandle {
  const services = servicesOf(config);
  const agents = { http: new http.Agent({ keepAlive: true }), https: new https.Agent({ keepAlive: true }) };
  const tunnel = new TunnelClient({
    serverUrl: config.serverAddr,
    domain: config.domain,
    apiKey: config.apiKey,
    services,
    tls: { ca: trustedCas(config.caFile), rejectUnauthorized: !(config.insecure || config.debug) },
    agents,
    clientVersion: `hopgate/${HOPGATE_VERSION}`,
    logger: logger.child({ component: "tunnel" }),
    pingIntervalMs: 15_000,
    pingTimeoutMs: 10_000,
    onRequestFinished: (record) => logger.debug({ component: "backend", ...record }, "request served"),
    onStatus: hooks.onStatus,
  });
  const clientLogger = logger.child({ component: "client" });
  if (!config.insecure && !config.debug) {
    clientLogger.debug({ server: config.serverAddr }, "verifying the server certificate");
  } else {
    clientLogger.warn(
      "server certificate verification is OFF (--insecure / HOP_CLIENT_DEBUG): development only",
    );
  }
  clientLogger.info(
    {
      server: config.serverAddr,
      domain: config.domain,
      services: services.map((s) => `${s.name}:${s.pathPrefix}=${s.target.origin}`),
    },
    "starting HopGate client",
  );
  tunnel.start();
  return {
    tunnel,
    stop: async () => {
      await tunnel.stop(config.shutdownTimeoutSeconds * 1000);
      agents.http.destroy();
      agents.https.destroy();
    },
  };
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
  try {
    return [...rootCertificates, readFileSync(caFile, "utf8")];
  } catch (error) {
    throw new ConfigError(`HOP_CLIENT_CA_FILE="${caFile}" cannot be read: ${(error as Error).message}`, {
      cause: error,
    });
  }
}
