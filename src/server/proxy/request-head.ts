import { isIP } from "node:net";
import { hopByHopNames } from "../../protocol/hop-by-hop.js";
import {
  canonicalHeaderName,
  emptyFieldMap,
  headerValues,
  isWireHeader,
  WireHeader,
  type HeaderMap,
} from "../../protocol/wire-headers.js";

export interface VisitorRequestHead {
  readonly method: string;
  /** Path and query exactly as the visitor sent them. */
  readonly url: string;
  /** Host (or :authority) as the visitor sent it; forwarded unchanged to the backend. */
  readonly host: string;
  /** Name/value pairs in order, as node gives them (`rawHeaders`). */
  readonly rawHeaders: readonly string[];
  /**
   * The forwarding chain (visitor-address.ts): the visitor first, each trusted front proxy it
   * passed, the TCP peer last; visitor-sent entries left of the visitor are never in it.
   */
  readonly forwardedFor: readonly string[];
  readonly requestId: string;
  /** A WebSocket (or other) upgrade: Upgrade and Connection survive the hop. */
  readonly upgrade: boolean;
  /** A body follows whose length is unknown (HTTP/1.1 chunked, or HTTP/2 without Content-Length). */
  readonly bodyOfUnknownLength: boolean;
}

/** Set by HopGate itself; a visitor's own values are never trusted (ARCHITECTURE.md). */
const REPLACED = new Set([
  "host",
  "x-forwarded-for",
  "x-forwarded-proto",
  "x-forwarded-host",
  "forwarded",
  "x-real-ip",
  "x-request-id",
]);

/**
 * The StreamOpen header map of a visitor's request: the visitor's end-to-end headers (repeated
 * ones kept, in order), the forwarding headers set by HopGate, and the tunnel metadata. Drops
 * hop-by-hop fields (RFC 9110 §7.6.1), HTTP/2 pseudo-headers and any `X-HopGate-*` a visitor
 * sent, which could otherwise forge the method, URL, host or status.
 * Names are lowercase for v2 peers and in Go's canonical form for v1 peers.
 */
export function requestHeaderMap(head: VisitorRequestHead, version: 1 | 2): HeaderMap {
  const raw = head.rawHeaders;
  const connection: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    if ((raw[i] as string).toLowerCase() === "connection") connection.push(raw[i + 1] as string);
  }
  const hopByHop = hopByHopNames(connection);
  // Inheriting nothing: a visitor's "constructor" or "__proto__" field is an ordinary entry (on a
  // plain object, `map[key]` found Object's members and the push threw, ending the process).
  const map: HeaderMap = emptyFieldMap();
  const add = (name: string, value: string) => {
    const key = version === 1 ? canonicalHeaderName(name) : name;
    const entry = map[key];
    if (entry) entry.values.push(value);
    else map[key] = headerValues([value]);
  };
  for (let i = 0; i < raw.length; i += 2) {
    const name = (raw[i] as string).toLowerCase();
    if (name.charCodeAt(0) === 58 /* : */ || REPLACED.has(name) || isWireHeader(name)) continue;
    if (hopByHop.has(name) && !(head.upgrade && name === "upgrade")) continue;
    add(name, raw[i + 1] as string);
  }
  if (head.upgrade) add("connection", "Upgrade");
  // v2 clients learn that a body of unknown length follows (node's HTTP client would otherwise
  // send a DELETE's or OPTIONS' body unframed). v1 clients buffer the whole body anyway.
  if (head.bodyOfUnknownLength && version === 2) add("transfer-encoding", "chunked");
  const chain = head.forwardedFor.length > 0 ? head.forwardedFor : ["unknown"];
  add("host", head.host);
  add("x-forwarded-for", chain.join(", "));
  add("x-forwarded-proto", "https");
  add("x-forwarded-host", head.host);
  add("x-real-ip", chain[0]!);
  // RFC 7239 §4: one element per hop; HopGate's own (the last) says for whom it received it.
  const earlier = chain.slice(0, -1).map((hop) => `for=${forwardedNode(hop)}, `);
  add(
    "forwarded",
    `${earlier.join("")}for=${forwardedNode(chain.at(-1)!)};host=${quoteIfNeeded(head.host)};proto=https`,
  );
  add("x-request-id", head.requestId);
  map[WireHeader.method] = headerValues([head.method]);
  map[WireHeader.url] = headerValues([head.url]);
  map[WireHeader.host] = headerValues([head.host]);
  return map;
}

/** RFC 7239 §6: IPv6 nodes are bracketed and quoted. */
function forwardedNode(address: string): string {
  return isIP(address) === 6 ? `"[${address}]"` : quoteIfNeeded(address);
}

function quoteIfNeeded(value: string): string {
  return /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(value) ? value : `"${value.replace(/["\\]/g, "\\$&")}"`;
}
