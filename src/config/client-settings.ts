import { z } from "zod";
import { domainName } from "./domain-schema.js";
import { loggingSettings } from "./logging-settings.js";
import { boolean, integer, list, listenAddressOrOff, oneOf, text } from "./parsers.js";
import { serviceSpec, serviceTarget } from "./service-spec.js";
import { defineSettings, setting, type ConfigOf } from "./setting.js";

/** Every setting of `hopgate client`; the original HopGate client's variable names are kept. */
export const clientSettings = defineSettings({
  serverAddr: setting({
    env: "HOP_CLIENT_SERVER_ADDR",
    flag: "--server",
    kind: "value",
    description: "HopGate server to connect to (host, host:port or https:// URL; port 443 by default)",
    expected: "host[:port] or an https:// URL",
    schema: z
      .string()
      .trim()
      .min(1, "empty")
      .transform((value, ctx) => {
        try {
          const url = new URL(/^https?:\/\//i.test(value) ? value : `https://${value}`);
          if (url.protocol !== "https:") throw new Error("not https");
          return url.origin;
        } catch {
          ctx.addIssue({ code: "custom", message: "not a host:port or https URL" });
          return z.NEVER;
        }
      }),
  }),
  domain: setting({
    env: "HOP_CLIENT_DOMAIN",
    flag: "--domain",
    kind: "value",
    description:
      "Registered domain this client serves; a label under a wildcard domain (demo.tunnel.example.com with the wildcard's key), or auto for a random label",
    expected: "a domain name such as app.example.com, or auto",
    schema: domainName({ allowAuto: true }),
  }),
  apiKey: setting({
    env: "HOP_CLIENT_API_KEY",
    flag: "--api-key",
    kind: "value",
    description: "Client API key returned when the domain was registered",
    expected: "the 64-character key from registration",
    secret: "key",
    schema: z
      .string()
      .trim()
      .regex(/^[A-Za-z0-9_-]{16,256}$/, "not an API key"),
  }),
  localTarget: setting({
    env: "HOP_CLIENT_LOCAL_TARGET",
    flag: "--local-target",
    kind: "value",
    description:
      "Single local service (port, host:port, http(s) origin, or h2c:// / h2:// for an HTTP/2 service such as gRPC; a port alone is 127.0.0.1:PORT); same as --service web=URL",
    expected: "a port, host:port, an http(s) origin or an h2c:// / h2:// origin",
    schema: serviceTarget().optional(),
  }),
  services: setting({
    env: "HOP_CLIENT_SERVICES",
    flag: "--service",
    kind: "list",
    description: "Local services, repeatable: name=URL or name:/prefix=URL",
    expected: "name=URL or name:/prefix=URL, comma-separated",
    default: "",
    schema: list(serviceSpec()),
  }),
  caFile: setting({
    env: "HOP_CLIENT_CA_FILE",
    flag: "--ca-file",
    kind: "value",
    description: "PEM file of an extra CA to trust for the server's certificate",
    expected: "a file path",
    schema: text().optional(),
  }),
  insecure: setting({
    env: "HOP_CLIENT_INSECURE",
    flag: "--insecure",
    kind: "switch",
    description: "Skip verification of the server's certificate (development only)",
    expected: "true or false",
    default: "false",
    schema: boolean(),
  }),
  singleServer: setting({
    env: "HOP_CLIENT_SINGLE_SERVER",
    flag: "--single-server",
    kind: "switch",
    description:
      "Hold tunnels to the configured server only, ignoring the other servers of the gateway it advertises (docs/scale-out.md)",
    expected: "true or false",
    default: "false",
    schema: boolean(),
  }),
  debug: setting({
    env: "HOP_CLIENT_DEBUG",
    flag: "--debug",
    kind: "switch",
    description:
      "Debug logs (log level debug); unlike v1 it leaves certificate verification on (see --insecure)",
    expected: "true or false",
    default: "false",
    schema: boolean(),
  }),
  logLevel: setting({
    env: "HOP_LOG_LEVEL",
    flag: "--log-level",
    kind: "value",
    description: "Lowest log level written",
    expected: "trace, debug, info, warn, error or fatal",
    default: "info",
    schema: oneOf(["trace", "debug", "info", "warn", "error", "fatal"]),
  }),
  logFormat: setting({
    env: "HOP_CLIENT_LOG_FORMAT",
    flag: "--log-format",
    kind: "value",
    description:
      "Output on stdout: json (JSON lines), pretty (a status and one line per request, for people), or auto (pretty when stdout is a terminal)",
    expected: "auto, json or pretty",
    default: "auto",
    schema: oneOf(["auto", "json", "pretty"]),
  }),
  ...loggingSettings,
  metricsListen: setting({
    env: "HOP_CLIENT_METRICS_LISTEN",
    flag: "--metrics-listen",
    kind: "value",
    description: "Listener for the client's /metrics, /healthz and /readyz (plain HTTP), or off",
    expected: "host:port, :port or off",
    default: "off",
    schema: listenAddressOrOff(),
  }),
  shutdownTimeoutSeconds: setting({
    env: "HOP_SHUTDOWN_TIMEOUT_SECONDS",
    flag: "--shutdown-timeout-seconds",
    kind: "value",
    description: "On SIGTERM, longest wait for in-flight requests to finish",
    expected: "a whole number of seconds from 0 to 3600",
    default: "30",
    schema: integer(0, 3600),
  }),
  config: setting({
    env: "HOP_CLIENT_CONFIG",
    flag: "--config",
    kind: "value",
    description:
      "Client config file (YAML) naming the server and every domain to serve (docs/client-config.md)",
    expected: "a file path",
    schema: text().optional(),
  }),
  inspect: setting({
    env: "HOP_CLIENT_INSPECT",
    flag: "--inspect",
    kind: "value",
    description:
      "Request inspector (web page and JSON API): host:port, off, or auto (127.0.0.1:4040 when stdout is a terminal)",
    expected: "host:port, auto or off",
    default: "auto",
    schema: z.union([
      z
        .string()
        .trim()
        .refine((value) => value.toLowerCase() === "auto")
        .transform(() => "auto" as const),
      listenAddressOrOff(),
    ]),
  }),
  inspectMaxRequests: setting({
    env: "HOP_CLIENT_INSPECT_MAX_REQUESTS",
    flag: "--inspect-max-requests",
    kind: "value",
    description: "Requests the inspector keeps (the oldest is dropped first)",
    expected: "a whole number from 1 to 100000",
    default: "500",
    schema: integer(1, 100_000),
  }),
  inspectMaxBodyBytes: setting({
    env: "HOP_CLIENT_INSPECT_MAX_BODY_BYTES",
    flag: "--inspect-max-body-bytes",
    kind: "value",
    description: "Bytes the inspector keeps of each request and response body",
    expected: "a whole number of bytes from 0 to 16777216",
    default: "65536",
    schema: integer(0, 16 * 1024 * 1024),
  }),
});

export type ClientConfig = ConfigOf<typeof clientSettings>;
