import type { HeaderValues } from "./gen/hopgate/protocol/v1/tunnel_pb.js";

/**
 * Header names that carry tunnel metadata inside StreamOpen header maps. The v1 Go peers match
 * them case-sensitively (PROTOCOL.md, "Facts that bite"): always emit exactly these spellings.
 */
export const WireHeader = {
  method: "X-HopGate-Method",
  url: "X-HopGate-URL",
  host: "X-HopGate-Host",
  status: "X-HopGate-Status",
  domain: "X-HopGate-Domain",
  apiKey: "X-HopGate-API-Key",
  localTarget: "X-HopGate-Local-Target",
  /** v2: protocol versions the client speaks, e.g. ["2"]. */
  protocol: "X-HopGate-Protocol",
  /** v2: one `name=/prefix` entry per service the client exposes. */
  service: "X-HopGate-Service",
  /** v2: client software and version, for the admin API and logs. */
  clientVersion: "X-HopGate-Client-Version",
  /**
   * v2: a random id the client process draws once and sends on every tunnel, so that a label it
   * held under a wildcard domain is given back to it when it reconnects within the grace period.
   */
  instance: "X-HopGate-Instance",
  /**
   * v2: optional features the client speaks, one per value (e.g. "trailers"); the server answers
   * with those it speaks too in TunnelAccept.capabilities. Peers that predate it ignore it.
   */
  capability: "X-HopGate-Capability",
  /** v2: request id the server assigned, forwarded to the backend as X-Request-ID. */
  requestId: "X-HopGate-Request-ID",
} as const;

/** Visitor- or backend-sent headers under this prefix are metadata forgeries and are dropped. */
export function isWireHeader(lowercaseName: string): boolean {
  return lowercaseName.startsWith("x-hopgate-");
}

export type HeaderMap = { [name: string]: HeaderValues };

/** The prototype of every field map: empty, frozen, and itself without a prototype. */
const NO_MEMBERS = Object.freeze(Object.create(null) as object);

/**
 * An empty map from field names to `T`, for names a visitor, backend or peer chose: it inherits
 * nothing, so "__proto__", "constructor" or "toString" read as absent until set and are set as
 * ordinary own entries (there is no `__proto__` setter on its prototype chain), as with
 * `Object.create(null)`. Unlike an `Object.create(null)` map, which V8 keeps as a hash table, it
 * starts with fast properties: building, reading and walking one (`for…in`, `Object.keys`)
 * costs a third to a quarter as much, several times per request (docs/performance.md, change 17).
 */
export function emptyFieldMap<T>(): { [name: string]: T } {
  return Object.create(NO_MEMBERS) as { [name: string]: T };
}

/** A HeaderValues message (a plain object, as `create()` would make it without reflection). */
export function headerValues(values: string[]): HeaderValues {
  return { $typeName: "hopgate.protocol.v1.HeaderValues", values };
}

/** First value of `name` (exact spelling) in a wire header map. */
export function firstValue(header: HeaderMap, name: string): string | undefined {
  return header[name]?.values[0];
}

/**
 * Go's textproto canonical form (`content-type` → `Content-Type`), used towards v1 peers, whose
 * `http.Header` lookups only find canonical keys.
 */
export function canonicalHeaderName(name: string): string {
  let out = "";
  let upper = true;
  for (const char of name) {
    out += upper ? char.toUpperCase() : char.toLowerCase();
    upper = char === "-";
  }
  return out;
}
