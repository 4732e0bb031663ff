import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { isNode, isScalar, LineCounter, parseDocument, visit, type Document } from "yaml";
import type { z } from "zod";
import { clientSettings } from "./client-settings.js";
import { clientFileSchema, type ClientFileInput } from "./client-file-schema.js";
import { ConfigError } from "./config-error.js";
import type { DomainPlan } from "./domain-plan.js";
import type { ServiceSpec } from "./service-spec.js";

/** A validated client config file: where the tunnels go and what each domain serves. */
export interface ClientFile {
  readonly path: string;
  /** Origin of the server (`https://host:port`). */
  readonly serverAddr: string;
  /** PEM of the CA file the file names for the server's certificate, if any. */
  readonly serverCa: string | undefined;
  readonly domains: readonly DomainPlan[];
}

/**
 * Reads and validates the client config file at `path`. `${NAME}` in a value is replaced by
 * the environment variable NAME (unset is an error). Relative paths in the file (api_key_file,
 * ca_file) are relative to the file's directory. Every error is a ConfigError of one line that
 * names the file, the line and the field: `hopgate.yaml:7: domains[1].api_key: not an API key`.
 */
export function loadClientFile(path: string, env: Readonly<Record<string, string | undefined>>): ClientFile {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new ConfigError(`config file ${path} cannot be read: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const syntax = doc.errors[0];
  if (syntax) {
    const line = syntax.linePos?.[0].line ?? lines.linePos(syntax.pos[0]).line;
    throw new ConfigError(`${path}:${line}: ${syntax.message.split("\n", 1)[0]}`);
  }
  substituteEnv(doc, env, (offset, message) => fail(path, lines.linePos(offset).line, message));
  const result = clientFileSchema.safeParse(doc.toJS());
  if (!result.success) throw issueError(path, doc, lines, result.error.issues[0]);
  return resolveFile(path, doc, lines, result.data);
}

function fail(path: string, line: number, message: string): never {
  throw new ConfigError(`${path}:${line}: ${message}`);
}

/** `${NAME}` in scalar values, from the environment; `$${` is a literal `${`. */
function substituteEnv(
  doc: Document,
  env: Readonly<Record<string, string | undefined>>,
  onError: (offset: number, message: string) => never,
): void {
  visit(doc, {
    Scalar(_key, node) {
      if (typeof node.value !== "string" || !node.value.includes("${")) return;
      node.value = node.value.replace(/\$?\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (match, name: string) => {
        if (match.startsWith("$$")) return match.slice(1);
        const value = env[name];
        if (value === undefined || value === "") {
          onError(node.range?.[0] ?? 0, `environment variable ${name} (named as \${${name}}) is not set`);
        }
        return value;
      });
    },
  });
}

function issueError(
  path: string,
  doc: Document,
  lines: LineCounter,
  issue: z.core.$ZodIssue | undefined,
): ConfigError {
  const at = issue?.path ?? [];
  const field = fieldName(at);
  // The node of the field, or of the nearest enclosing one that exists (a missing key).
  let line = 1;
  for (let depth = at.length; depth >= 0; depth--) {
    const node = doc.getIn(at.slice(0, depth) as Array<string | number>, true);
    const offset = isNode(node) ? node.range?.[0] : undefined;
    if (offset !== undefined) {
      line = lines.linePos(offset).line;
      break;
    }
  }
  const message =
    issue?.code === "invalid_type" && issue.input === undefined
      ? "is required"
      : issue?.code === "unrecognized_keys"
        ? `unknown key ${issue.keys.map((k) => `"${k}"`).join(", ")}`
        : (issue?.message ?? "invalid");
  return new ConfigError(`${path}:${line}: ${field ? `${field}: ` : ""}${message}`);
}

function fieldName(path: readonly PropertyKey[]): string {
  return path
    .map((part, i) => (typeof part === "number" ? `[${part}]` : `${i === 0 ? "" : "."}${String(part)}`))
    .join("");
}

function resolveFile(path: string, doc: Document, lines: LineCounter, input: ClientFileInput): ClientFile {
  const dir = dirname(resolve(path));
  const lineOf = (at: Array<string | number>) => {
    const node = doc.getIn(at, true);
    return isScalar(node) && node.range ? lines.linePos(node.range[0]).line : 1;
  };
  const readAt = (at: Array<string | number>, file: string, what: string): string => {
    try {
      return readFileSync(resolve(dir, file), "utf8");
    } catch (error) {
      fail(
        path,
        lineOf(at),
        `${fieldName(at)}: ${what} "${file}" cannot be read: ${(error as Error).message}`,
      );
    }
  };
  const server = clientSettings.serverAddr.schema.safeParse(input.server);
  if (!server.success) fail(path, lineOf(["server"]), `server: not a host:port or https URL`);
  const domains = input.domains.map((entry, d): DomainPlan => {
    let apiKey = entry.api_key;
    if (apiKey === undefined) {
      apiKey = readAt(["domains", d, "api_key_file"], entry.api_key_file ?? "", "key file").trim();
      if (!/^[A-Za-z0-9_-]{16,256}$/.test(apiKey)) {
        fail(
          path,
          lineOf(["domains", d, "api_key_file"]),
          `domains[${d}].api_key_file: the file holds no API key`,
        );
      }
    }
    const services = entry.services.map((s, i): ServiceSpec => {
      const ca =
        s.ca_file === undefined
          ? undefined
          : readAt(["domains", d, "services", i, "ca_file"], s.ca_file, "CA file");
      return {
        name: s.name,
        pathPrefix: s.prefix,
        ...s.url,
        ...(s.host_header === undefined ? {} : { hostHeader: s.host_header }),
        // A file's https service is verified unless it says otherwise (cloudflared's noTLSVerify).
        ...(s.url.target.protocol === "https:"
          ? {
              backendTls: {
                rejectUnauthorized: s.tls_skip_verify !== true,
                ...(ca === undefined ? {} : { ca }),
              },
            }
          : {}),
        ...(s.timeout_seconds === undefined
          ? {}
          : { responseTimeoutMs: Math.round(s.timeout_seconds * 1000) }),
      };
    });
    return { domain: entry.domain, apiKey, services };
  });
  return {
    path,
    serverAddr: server.data,
    serverCa: input.ca_file === undefined ? undefined : readAt(["ca_file"], input.ca_file, "CA file"),
    domains,
  };
}
