import type { IncomingHttpHeaders, OutgoingHttpHeaders } from "node:http2";
import type { ServiceSpec } from "../config/service-spec.js";

/**
 * RFC 9113 §8.2.2: connection-specific fields have no place in HTTP/2 (node refuses to send
 * them). The tunnel has removed the hop-by-hop ones already; a chunked request says so here,
 * and Host becomes `:authority` (RFC 9113 §8.3.1).
 */
export const CONNECTION_SPECIFIC_FIELDS: ReadonlySet<string> = new Set([
  "host",
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "upgrade",
  "te",
]);

/** A request as the tunnel and the inspector keep it: header fields as a flat name/value list. */
export interface FlatRequestHead {
  readonly method: string;
  readonly path: string;
  readonly headers: readonly string[];
}

/**
 * The node:http2 request head for `head` sent to `service`: connection-specific fields left
 * out, repeated fields in order, `te: trailers` (the tunnel relays trailers, RFC 9110 §10.1.4;
 * gRPC servers expect it, PROTOCOL-HTTP2.md), and `:authority` the service's Host override,
 * else the request's Host, else the service's own host and port.
 */
export function http2RequestHeaders(
  head: FlatRequestHead,
  service: Pick<ServiceSpec, "target" | "hostHeader">,
): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = {
    ":method": head.method,
    ":path": head.path,
    ":scheme": service.target.protocol === "https:" ? "https" : "http",
    te: "trailers",
  };
  let authority = service.target.host;
  for (let i = 0; i + 1 < head.headers.length; i += 2) {
    const name = (head.headers[i] as string).toLowerCase();
    const value = head.headers[i + 1] as string;
    if (name === "host") authority = value;
    if (CONNECTION_SPECIFIC_FIELDS.has(name)) continue;
    const existing = headers[name];
    headers[name] =
      existing === undefined ? value : [...(Array.isArray(existing) ? existing : [String(existing)]), value];
  }
  headers[":authority"] = service.hostHeader ?? authority;
  return headers;
}

/** node's parsed HTTP/2 fields, pseudo-headers left out, as a flat name/value list. */
export function flatHttp2Fields(fields: IncomingHttpHeaders): string[] {
  const flat: string[] = [];
  for (const name in fields) {
    const value = fields[name];
    if (name.startsWith(":") || value === undefined) continue;
    for (const one of Array.isArray(value) ? value : [String(value)]) flat.push(name, one);
  }
  return flat;
}
