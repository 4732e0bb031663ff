import { z } from "zod";
import { boolean, integer, text } from "./parsers.js";
import { defineSettings, setting, type ConfigOf } from "./setting.js";

/** The path under which a HopGate server serves its admin API. */
export const ADMIN_API_PATH = "/api/v1/admin";

/** Every setting of `hopgate admin ...`, the command-line client of a server's admin API. */
export const adminSettings = defineSettings({
  serverUrl: setting({
    env: "HOP_ADMIN_URL",
    flag: "--server-url",
    kind: "value",
    description: "URL of the HopGate server's main domain, e.g. https://hopgate.example.com",
    expected: "an http(s) URL such as https://hopgate.example.com (optionally ending in /api/v1/admin)",
    schema: z.string({ error: "not set" }).trim().min(1, "not set").transform(adminBaseUrl),
  }),
  adminApiKey: setting({
    env: "HOP_ADMIN_API_KEY",
    flag: "--admin-api-key",
    kind: "value",
    description: "The server's admin API key (its HOP_ADMIN_API_KEY)",
    expected: "the server's admin API key",
    secret: "key",
    schema: z.string({ error: "not set" }).trim().min(1, "not set"),
  }),
  caFile: setting({
    env: "HOP_ADMIN_CA_FILE",
    flag: "--ca-file",
    kind: "value",
    description: "PEM file of an extra CA to trust for the server's certificate (e.g. self-signed)",
    expected: "a file path",
    schema: text().optional(),
  }),
  insecure: setting({
    env: "HOP_ADMIN_INSECURE",
    flag: "--insecure",
    kind: "switch",
    description: "Skip verification of the server's certificate (development only)",
    expected: "true or false",
    default: "false",
    schema: boolean(),
  }),
  timeoutSeconds: setting({
    env: "HOP_ADMIN_TIMEOUT_SECONDS",
    flag: "--timeout-seconds",
    kind: "value",
    description: "Longest wait for the server's answer",
    expected: "a whole number of seconds from 1 to 600",
    default: "30",
    schema: integer(1, 600),
  }),
});

export type AdminConfig = ConfigOf<typeof adminSettings>;

/** `https://host[:port]` or the same ending in /api/v1/admin → `https://host[:port]/api/v1/admin`. */
function adminBaseUrl(value: string, ctx: z.RefinementCtx): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    ctx.addIssue({ code: "custom", message: "not a URL" });
    return z.NEVER;
  }
  const path = url.pathname.replace(/\/+$/, "");
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    ctx.addIssue({ code: "custom", message: "not http or https" });
  } else if (path !== "" && path !== ADMIN_API_PATH) {
    ctx.addIssue({ code: "custom", message: `path must be empty or ${ADMIN_API_PATH}` });
  } else if (url.search || url.hash || url.username || url.password) {
    ctx.addIssue({ code: "custom", message: "no query, fragment or credentials allowed" });
  } else {
    return `${url.origin}${ADMIN_API_PATH}`;
  }
  return z.NEVER;
}
