import type { HeaderValues } from "./gen/hopgate/protocol/v1/tunnel_pb.js";
import { hopByHopNames } from "./hop-by-hop.js";
import { isFieldValue, isToken } from "./http-syntax.js";
import { emptyFieldMap, headerValues, isWireHeader, type HeaderMap } from "./wire-headers.js";

/**
 * RFC 9110 §6.5.1: fields a trailer section must not carry, because a recipient needs them
 * before the content (framing, routing, authentication, caching, content processing) or
 * would apply them to the message too late. HTTP/2 pseudo-fields (":status") are not tokens
 * and are refused by the syntax check. Together with the hop-by-hop set and `X-HopGate-*`.
 */
const NOT_IN_TRAILERS = new Set([
  "content-length",
  "content-type",
  "content-encoding",
  "content-range",
  "host",
  "authorization",
  "proxy-authorization",
  "set-cookie",
  "cookie",
  "age",
  "cache-control",
  "expires",
  "date",
  "location",
  "retry-after",
  "vary",
  "expect",
  "max-forwards",
  "range",
  "if-match",
  "if-none-match",
  "if-modified-since",
  "if-unmodified-since",
  "if-range",
  "www-authenticate",
]);

export type TrailerFields =
  | { readonly ok: true; readonly fields: Record<string, string[]>; readonly count: number }
  | { readonly ok: false; readonly problem: string };

/**
 * Validates a trailer section that came from the network (a StreamTrailers frame, or a
 * backend's trailers): a name that is not a token or a value with CR, LF, NUL or another
 * control refuses the whole section (a trailer must never split into a forged field or reach
 * node's writers, which throw on it); fields that may not be trailers (see NOT_IN_TRAILERS),
 * hop-by-hop fields and tunnel metadata are dropped. Names come out lowercased, repeated values
 * in order; the result inherits nothing ("__proto__" is an ordinary name). Sizes are checked
 * before this, with the header limits (multiplexer.ts).
 */
export function trailerFields(header: HeaderMap): TrailerFields {
  const hopByHop = hopByHopNames([]);
  const fields = emptyFieldMap<string[]>();
  let count = 0;
  for (const name in header) {
    const values = (header[name] as HeaderValues).values;
    if (!isToken(name)) return { ok: false, problem: "invalid trailer name" };
    for (const value of values)
      if (!isFieldValue(value)) return { ok: false, problem: `invalid value in trailer ${name}` };
    const lower = name.toLowerCase();
    if (!mayBeTrailer(lower, hopByHop) || values.length === 0) continue;
    (fields[lower] ??= []).push(...values);
    count++;
  }
  return { ok: true, fields, count };
}

/**
 * The `Trailer` field (RFC 9110 §6.6.2) to pass on for a response's `Trailer` values: the names
 * in them that trailerFields would let through, lowercased, each once, in order; undefined when
 * none is left. It never announces a field this hop drops (framing, routing, hop-by-hop,
 * `X-HopGate-*`), and a name that is not a token is left out. It is hop-by-hop for the message's
 * framing (hop-by-hop.ts): the caller sets it only on a message it sends chunked with trailers.
 */
export function announcedTrailers(values: readonly string[]): string | undefined {
  const hopByHop = hopByHopNames([]);
  const names = new Set<string>();
  for (const value of values)
    for (const token of value.split(",")) {
      const name = token.trim().toLowerCase();
      if (isToken(name) && mayBeTrailer(name, hopByHop)) names.add(name);
    }
  return names.size > 0 ? [...names].join(", ") : undefined;
}

function mayBeTrailer(lowerName: string, hopByHop: ReadonlySet<string>): boolean {
  return !NOT_IN_TRAILERS.has(lowerName) && !hopByHop.has(lowerName) && !isWireHeader(lowerName);
}

/** Validated trailer fields as a wire header map (for a StreamTrailers frame). */
export function trailerHeaderMap(fields: Record<string, string[]>): HeaderMap {
  const map: HeaderMap = emptyFieldMap();
  for (const name in fields) map[name] = headerValues([...(fields[name] as string[])]);
  return map;
}

/** A raw header list (name, value, name, value…) as a wire header map, unvalidated. */
export function rawFieldMap(raw: readonly string[]): HeaderMap {
  const map: HeaderMap = emptyFieldMap();
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] as string;
    const entry = map[name];
    if (entry) entry.values.push(raw[i + 1] as string);
    else map[name] = headerValues([raw[i + 1] as string]);
  }
  return map;
}
