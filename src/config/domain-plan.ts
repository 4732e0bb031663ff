import { ConfigError } from "./config-error.js";
import type { ServiceSpec } from "./service-spec.js";

/** One domain a client serves: its key and the local services behind it. */
export interface DomainPlan {
  readonly domain: string;
  readonly apiKey: string;
  readonly services: readonly ServiceSpec[];
}

/** The flag/env way: one domain, `--service` entries plus `HOP_CLIENT_LOCAL_TARGET` as "web" on "/". */
export function domainPlanFromSettings(config: {
  readonly domain: string;
  readonly apiKey: string;
  readonly services: readonly ServiceSpec[];
  readonly localTarget: { readonly target: URL; readonly http2?: true } | undefined;
}): DomainPlan {
  const services = [...config.services];
  if (config.localTarget) {
    if (services.some((s) => s.name === "web")) {
      throw new ConfigError(
        'HOP_CLIENT_LOCAL_TARGET conflicts with a --service named "web": use one of them',
      );
    }
    services.push({ name: "web", pathPrefix: "/", ...config.localTarget });
  }
  if (services.length === 0) {
    throw new ConfigError("no local service: set HOP_CLIENT_LOCAL_TARGET (host:port) or --service name=URL");
  }
  const names = new Set<string>();
  for (const service of services) {
    if (names.has(service.name)) throw new ConfigError(`service "${service.name}" is defined twice`);
    names.add(service.name);
  }
  return { domain: config.domain, apiKey: config.apiKey, services };
}

/** Whether two plans of one domain would run the same tunnel (SIGHUP leaves such a domain alone). */
export function samePlan(a: DomainPlan, b: DomainPlan): boolean {
  return JSON.stringify(planKey(a)) === JSON.stringify(planKey(b));
}

function planKey(plan: DomainPlan): unknown {
  return [
    plan.domain,
    plan.apiKey,
    plan.services.map((s) => [
      s.name,
      s.pathPrefix,
      s.target.href,
      s.hostHeader,
      s.backendTls?.rejectUnauthorized,
      s.backendTls?.ca,
      s.responseTimeoutMs,
      s.http2,
    ]),
  ];
}
