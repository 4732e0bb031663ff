import { isIP } from "node:net";
import { z } from "zod";
import { normalizePath } from "../protocol/path-normalization.js";

/**
 * A local service that a client exposes: requests whose path starts with `pathPrefix` go to
 * `target`. Written `name=URL` (prefix "/") or `name:/prefix=URL`, e.g. `api:/api=http://127.0.0.1:9000`.
 */
export interface ServiceSpec {
  readonly name: string;
  readonly pathPrefix: string;
  /** Origin only (scheme, host, port): the client never dials anything else. */
  readonly target: URL;
  /** Host header sent to the service instead of the visitor's (dev servers that check Host). */
  readonly hostHeader?: string;
  /**
   * Verification of an https service's certificate; undefined keeps the flag-configured
   * default of not verifying (local services often use self-signed certificates).
   */
  readonly backendTls?: BackendTls;
  /** Longest wait for the service's response head; undefined waits as long as the visitor. */
  readonly responseTimeoutMs?: number;
  /**
   * The service speaks HTTP/2 (gRPC servers): written `h2c://` (cleartext, prior knowledge;
   * `target` is then http:) or `h2://` (TLS; `target` is https:). Undefined: HTTP/1.1.
   */
  readonly http2?: true;
}

export interface BackendTls {
  readonly rejectUnauthorized: boolean;
  /** PEM of the CAs that sign the service's certificate, instead of the system's roots. */
  readonly ca?: string;
}

const NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/i;

export function parseServiceSpec(input: string): ServiceSpec | string {
  const eq = input.indexOf("=");
  if (eq === -1) return "missing '=' (name=URL)";
  const left = input.slice(0, eq).trim();
  const colon = left.indexOf(":");
  const name = colon === -1 ? left : left.slice(0, colon);
  const pathPrefix = colon === -1 ? "/" : left.slice(colon + 1);
  if (!NAME.test(name)) return `service name "${name}" must be letters, digits, '-' or '_'`;
  const prefixProblem = pathPrefixProblem(pathPrefix);
  if (prefixProblem !== undefined) return `path prefix "${pathPrefix}" ${prefixProblem}`;
  const target = parseServiceTarget(input.slice(eq + 1).trim());
  if (typeof target === "string") return target;
  return { name, pathPrefix, ...target };
}

/**
 * A service's URL: what `parseTarget` reads, or `h2c://host:port` / `h2://host:port` for an
 * HTTP/2 service, kept as its http: / https: origin and `http2`.
 */
export function parseServiceTarget(input: string): { target: URL; http2?: true } | string {
  const h2 = /^(h2c?):\/\//i.exec(input);
  if (!h2) {
    const target = parseTarget(input);
    return typeof target === "string" ? target : { target };
  }
  const scheme = h2[1]!.toLowerCase() === "h2c" ? "http" : "https";
  const target = parseTarget(`${scheme}://${input.slice(h2[0].length)}`);
  if (typeof target === "string") return target.replace(`${scheme}://`, `${h2[1]}://`);
  return { target, http2: true };
}

/**
 * The service's origin as a person wrote it: `h2c://host:port` or `h2://host:port` for an
 * HTTP/2 service (an `http://` origin would hide that it is called over HTTP/2).
 */
export function serviceOrigin(service: Pick<ServiceSpec, "target" | "http2">): string {
  const origin = service.target.origin;
  if (!service.http2) return origin;
  return (
    (service.target.protocol === "https:" ? "h2:" : "h2c:") + origin.slice(service.target.protocol.length)
  );
}

/** A service's URL as its user writes it (what parseServiceTarget reads): `h2c://…` for HTTP/2. */
export function serviceTargetText(service: Pick<ServiceSpec, "target" | "http2">): string {
  return serviceOrigin(service) + service.target.href.slice(service.target.origin.length);
}

/**
 * Why a service's path prefix can never match, or undefined. Requests are routed on normalized
 * paths (path-normalization.ts), so a prefix must be normalized itself: `/%61pi` or `/a/../b`
 * would silently serve nothing.
 */
export function pathPrefixProblem(prefix: string): string | undefined {
  if (!prefix.startsWith("/") || /[\s?#]/.test(prefix))
    return "must start with '/' and hold no spaces, '?' or '#'";
  const normalized = normalizePath(prefix);
  if (!normalized.ok) return `is not a valid path: ${normalized.reason}`;
  if (normalized.path !== prefix)
    return `is not normalized (requests are routed on normalized paths): write "${normalized.path}"`;
  return undefined;
}

/**
 * `http://host[:port]`, `https://host[:port]`, bare `host:port` (http) or a bare port (http on
 * 127.0.0.1). Paths are not allowed. A bare word is refused, not read as a host: without this,
 * `8080` became `http://0.0.31.144/` (the WHATWG URL parser reads a lone number as an IPv4
 * address, https://url.spec.whatwg.org/#concept-ipv4-parser), and that is why any host that the
 * parser rewrites into a different IPv4 address is refused too.
 */
export function parseTarget(input: string): URL | string {
  const hasScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(input);
  if (!hasScheme && /^\d+$/.test(input)) {
    const port = Number(input);
    if (port < 1 || port > 65535) return `target port "${input}" is not from 1 to 65535`;
    return new URL(`http://127.0.0.1:${port}`);
  }
  if (!hasScheme && !/^(?:\[[0-9a-f:.]+\]|[^:/[\]\s]+):\d{1,5}$/i.test(input)) {
    return `target "${input}" is not a port, host:port or http(s) origin`;
  }
  let url: URL;
  try {
    url = new URL(hasScheme ? input : `http://${input}`);
  } catch {
    return `target "${input}" is not a port, host:port or http(s) origin`;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:")
    return `target "${input}" must be http or https (a service may also be h2c or h2)`;
  if (url.pathname !== "/" || url.search || url.hash || url.username || url.password) {
    return `target "${input}" must be an origin only (no path, query or credentials)`;
  }
  if (url.port === "0") return `target "${input}" has port 0`;
  const written = /^(?:[a-z][a-z0-9+.-]*:\/\/)?([^:/]*)/i.exec(input)?.[1]?.toLowerCase() ?? "";
  if (isIP(url.hostname) === 4 && written !== url.hostname) {
    return `target "${input}" has host "${written}", which is not a host name or dotted IPv4 address`;
  }
  return url;
}

export function serviceSpec() {
  return z.string().transform((value, ctx) => {
    const parsed = parseServiceSpec(value);
    if (typeof parsed === "string") {
      ctx.addIssue({ code: "custom", message: parsed });
      return z.NEVER;
    }
    return parsed;
  });
}

/** A service's URL (`parseServiceTarget`): http(s) origins, host:port, a port, h2c:// or h2://. */
export function serviceTarget() {
  return z.string().transform((value, ctx) => {
    const parsed = parseServiceTarget(value.trim());
    if (typeof parsed === "string") {
      ctx.addIssue({ code: "custom", message: parsed });
      return z.NEVER;
    }
    return parsed;
  });
}
