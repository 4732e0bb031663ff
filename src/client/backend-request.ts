import type { HeaderValues, StreamOpen } from "../protocol/gen/hopgate/protocol/v1/tunnel_pb.js";
import { hopByHopNames } from "../protocol/hop-by-hop.js";
import { isFieldValue, isToken } from "../protocol/http-syntax.js";
import { normalizePathAndQuery } from "../protocol/path-normalization.js";
import { firstValue, isWireHeader, WireHeader } from "../protocol/wire-headers.js";

/** A request as the client will send it to a local service. */
export interface BackendRequestHead {
  readonly method: string;
  /** Origin-form path and query ("/a?b"), or "*" for OPTIONS. */
  readonly path: string;
  /** Flat name/value list in order (repeats kept), Host set to the visitor's original Host. */
  readonly headers: string[];
  readonly upgrade: boolean;
  /** How the body is framed on the backend connection; `headers` already state it. */
  readonly framing: BodyFraming;
}

/**
 * A request body's framing towards the backend (RFC 9112 §6): a declared length, chunked, or
 * none. With none, node's HTTP client would write a GET's, DELETE's or OPTIONS' body bytes
 * unframed on a pooled connection, where the backend reads them as further requests: the
 * exchange must frame such a body itself or refuse it (issue 12 §1).
 */
export type BodyFraming =
  { readonly t: "length"; readonly bytes: number } | { readonly t: "chunked" } | { readonly t: "none" };

/**
 * Reads a request StreamOpen from the server into the request for the backend, or a problem.
 * The path must be origin-form: the client dials only its configured target, whatever the
 * server sends (no SSRF into the private network), and `target_addr` is ignored altogether.
 */
export function backendRequestHead(open: StreamOpen): BackendRequestHead | string {
  const method = firstValue(open.header, WireHeader.method) ?? "GET";
  const target = firstValue(open.header, WireHeader.url) ?? "/";
  if (!isToken(method)) return "invalid method";
  if (!(target.startsWith("/") || (target === "*" && method === "OPTIONS")) || /[\s\0]/.test(target)) {
    return "request target is not origin-form";
  }
  // The path the service is chosen by and the backend gets, normalized as the server does
  // (a no-op after a HopGate server; a v1 server sends the visitor's raw path).
  const normalized = target === "*" ? { ok: true as const, path: target } : normalizePathAndQuery(target);
  if (!normalized.ok) return `request target: ${normalized.reason}`;
  const path = normalized.path;
  const connection: string[] = [];
  let upgrade = false;
  let chunked = false;
  let contentLength: readonly string[] | undefined;
  const header = open.header;
  // for-in, not Object.entries: no array per entry on every request.
  for (const name in header) {
    const values = (header[name] as HeaderValues).values;
    const lower = name.toLowerCase();
    if (lower === "connection") for (const value of values) connection.push(value);
    if (lower === "upgrade" && values.length > 0) upgrade = true;
    if (lower === "transfer-encoding") chunked = values.some((v) => /chunked/i.test(v));
    if (lower === "content-length") contentLength = values;
  }
  const framing = bodyFraming(contentLength, chunked && !upgrade);
  if (typeof framing === "string") return framing;
  const hopByHop = hopByHopNames(connection);
  const host = firstValue(open.header, WireHeader.host);
  const headers: string[] = [];
  for (const name in header) {
    const values = (header[name] as HeaderValues).values;
    const lower = name.toLowerCase();
    if (isWireHeader(lower) || (lower === "host" && host !== undefined)) continue;
    if (hopByHop.has(lower) && !(upgrade && (lower === "upgrade" || lower === "connection"))) continue;
    if (!isToken(name)) return "invalid header name";
    for (const value of values) {
      if (!isFieldValue(value)) return `invalid value in header ${name}`;
      headers.push(name, value);
    }
  }
  if (host !== undefined) {
    if (!isFieldValue(host)) return "invalid host";
    headers.push("Host", host);
  }
  // A body of unknown length: frame it, whatever the method (the server tells, PROTOCOL v2).
  if (chunked && !upgrade) headers.push("Transfer-Encoding", "chunked");
  return { method, path, headers, upgrade, framing };
}

/**
 * One Content-Length of digits only (RFC 9110 §8.6), never together with chunked (RFC 9112
 * §6.3 calls that a smuggling attempt): whatever the backend's parser, it reads the same length.
 */
function bodyFraming(contentLength: readonly string[] | undefined, chunked: boolean): BodyFraming | string {
  if (contentLength === undefined) return chunked ? { t: "chunked" } : { t: "none" };
  const [value] = contentLength;
  if (contentLength.length !== 1 || value === undefined || !/^\d{1,15}$/.test(value)) {
    return "invalid content-length";
  }
  if (chunked) return "both content-length and chunked framing";
  return { t: "length", bytes: Number(value) };
}

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS", "TRACE"]);

/**
 * Whether sending `head` twice is harmless: a safe method (RFC 9110 §9.2.1), or a request the
 * visitor marked with an Idempotency-Key (draft-ietf-httpapi-idempotency-key-header).
 */
export function isReplayable(head: BackendRequestHead): boolean {
  if (SAFE_METHODS.has(head.method)) return true;
  for (let i = 0; i < head.headers.length; i += 2) {
    const name = (head.headers[i] as string).toLowerCase();
    if (name === "idempotency-key" || name === "x-idempotency-key") return true;
  }
  return false;
}
