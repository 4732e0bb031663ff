/**
 * RFC 9110 §7.6.1: connection-specific header fields must not be forwarded by a proxy, nor any
 * field that the Connection header lists. Keep-Alive, Proxy-Connection and the proxy
 * authentication fields are included as RFC 7230 §6.1 and common practice do. `Upgrade` is
 * forwarded only for an upgrade request (WebSocket), which the caller decides. `Trailer` is
 * end-to-end in RFC 9110 §6.6.2 (hop-by-hop in RFC 2616 §13.5.1), but only true of a chunked
 * message with trailers, which each hop decides for itself (node throws ERR_HTTP_TRAILER_INVALID
 * on a `Trailer` field in any other message): dropped here, set again by a hop that sends
 * trailers (trailer-fields.ts `announcedTrailers`).
 */
const ALWAYS_HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "http2-settings",
]);

/**
 * Fields a Connection header may not remove. Each hop frames and routes a message itself: a
 * `Connection: content-length` that dropped the length would leave a body without framing, which
 * the next hop writes unframed on a pooled connection (request smuggling, issue 12 §1). RFC 9110
 * §7.6.1 forbids naming fields meant for every recipient: such tokens are ignored.
 * (Transfer-Encoding is always hop-by-hop: each hop states its own framing.)
 */
const NEVER_HOP_BY_HOP = new Set(["content-length", "host"]);

/**
 * Lowercased names that must not cross this hop, given the message's Connection header values.
 * The shared set itself (not a copy) when they name nothing beyond it, as the `keep-alive` of
 * nearly every HTTP/1.1 message does: callers only read it.
 */
export function hopByHopNames(connectionValues: readonly string[]): ReadonlySet<string> {
  let names: Set<string> | undefined;
  for (const value of connectionValues) {
    for (const token of value.split(",")) {
      const name = token.trim().toLowerCase();
      if (!name || ALWAYS_HOP_BY_HOP.has(name) || NEVER_HOP_BY_HOP.has(name) || names?.has(name)) continue;
      (names ??= new Set(ALWAYS_HOP_BY_HOP)).add(name);
    }
  }
  return names ?? ALWAYS_HOP_BY_HOP;
}

/**
 * A message's end-to-end fields from its raw header lines (name, value, name, value…): names
 * lowercased, repeated fields kept in their order, without the hop-by-hop fields its own
 * Connection header makes of them and without any name `skip` refuses. Inherits nothing: a field
 * named "__proto__" or "constructor" is an ordinary entry.
 */
export function endToEndFields(
  raw: readonly string[],
  skip?: (lowerName: string) => boolean,
): Record<string, string[]> {
  const connection: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2)
    if (raw[i]!.toLowerCase() === "connection") connection.push(raw[i + 1]!);
  const hopByHop = hopByHopNames(connection);
  const fields = Object.create(null) as Record<string, string[]>;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (hopByHop.has(name) || skip?.(name)) continue;
    (fields[name] ??= []).push(raw[i + 1]!);
  }
  return fields;
}
