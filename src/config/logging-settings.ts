import { z } from "zod";
import type { LokiOptions } from "../lib/logging.js";
import { ConfigError } from "./config-error.js";
import { boolean, httpUrl, labelPairs, text } from "./parsers.js";
import { setting } from "./setting.js";

/**
 * Log settings shared by `hopgate server` and `hopgate client`: the original HopGate's Loki
 * variables (same names and meaning: the endpoint is the full push URL) and query logging.
 */
export const loggingSettings = {
  logQuery: setting({
    env: "HOP_LOG_QUERY",
    flag: "--log-query",
    kind: "switch",
    description:
      "Keep the query string in access-log paths and the client's request lines (it may carry tokens; off by default)",
    expected: "true or false",
    default: "false",
    schema: boolean(),
  }),
  lokiEnable: setting({
    env: "HOP_LOKI_ENABLE",
    flag: "--loki-enable",
    kind: "switch",
    description: "Also push every log line to Loki (needs HOP_LOKI_ENDPOINT)",
    expected: "true or false",
    default: "false",
    schema: boolean(),
  }),
  lokiEndpoint: setting({
    env: "HOP_LOKI_ENDPOINT",
    flag: "--loki-endpoint",
    kind: "value",
    description: "Loki push URL, e.g. http://loki:3100/loki/api/v1/push (a bare origin gets that path)",
    expected: "an http(s) URL",
    // May carry basic-auth credentials (Grafana Cloud's `https://<user>:<token>@logs-…/push`).
    secret: "url",
    schema: httpUrl().optional(),
  }),
  lokiTenantId: setting({
    env: "HOP_LOKI_TENANT_ID",
    flag: "--loki-tenant-id",
    kind: "value",
    description: "Loki tenant, sent as X-Scope-OrgID (multi-tenant Loki)",
    expected: "a tenant id",
    schema: text().optional(),
  }),
  lokiUsername: setting({
    env: "HOP_LOKI_USERNAME",
    flag: "--loki-username",
    kind: "value",
    description: "Basic-auth user for Loki",
    expected: "a user name",
    schema: text().optional(),
  }),
  lokiPassword: setting({
    env: "HOP_LOKI_PASSWORD",
    flag: "--loki-password",
    kind: "value",
    description: "Basic-auth password for Loki",
    expected: "a password",
    secret: "key",
    schema: z.string().min(1, "empty").optional(),
  }),
  lokiStaticLabels: setting({
    env: "HOP_LOKI_STATIC_LABELS",
    flag: "--loki-static-labels",
    kind: "list",
    description: "Labels on every pushed stream, e.g. app=hopgate,env=prod",
    expected: "comma-separated key=value pairs",
    default: "",
    schema: labelPairs(),
  }),
} as const;

/** The Loki part of a server or client config, as `loggingSettings` parses it. */
export interface LokiConfig {
  readonly lokiEnable: boolean;
  readonly lokiEndpoint?: string;
  readonly lokiTenantId?: string;
  readonly lokiUsername?: string;
  readonly lokiPassword?: string;
  readonly lokiStaticLabels: Readonly<Record<string, string>>;
}

/**
 * Loki push options for `createLogging`, or undefined when the push is off. `service` becomes a
 * stream label (`hopgate-server`, `hopgate-client`) unless the static labels set one.
 */
export function lokiOptionsFromConfig(config: LokiConfig, service: string): LokiOptions | undefined {
  if (!config.lokiEnable) return undefined;
  if (!config.lokiEndpoint) {
    throw new ConfigError(
      "HOP_LOKI_ENABLE=true needs HOP_LOKI_ENDPOINT (e.g. http://loki:3100/loki/api/v1/push)",
    );
  }
  if (config.lokiPassword !== undefined && config.lokiUsername === undefined) {
    throw new ConfigError("HOP_LOKI_PASSWORD is set but HOP_LOKI_USERNAME is not");
  }
  return {
    endpoint: config.lokiEndpoint,
    tenantId: config.lokiTenantId,
    basicAuth:
      config.lokiUsername === undefined
        ? undefined
        : { username: config.lokiUsername, password: config.lokiPassword ?? "" },
    labels: { service, ...config.lokiStaticLabels },
  };
}
