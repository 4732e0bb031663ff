import type { OutgoingHttpHeaders } from "node:http";
import type { HeaderValues, StreamOpen } from "../../protocol/gen/hopgate/protocol/v1/tunnel_pb.js";
import { hopByHopNames } from "../../protocol/hop-by-hop.js";
import { isFieldValue, isToken } from "../../protocol/http-syntax.js";
import { announcedTrailers } from "../../protocol/trailer-fields.js";
import { emptyFieldMap, isWireHeader, WireHeader } from "../../protocol/wire-headers.js";

export type ResponseHead =
  | {
      readonly ok: true;
      readonly status: number;
      readonly headers: OutgoingHttpHeaders;
      readonly upgrade?: string;
      /** Content-Length as declared; the body must then be exactly this long (if it has one). */
      readonly contentLength?: number;
      /** The `Trailer` field to send if the visitor gets trailers (announcedTrailers); not in `headers`. */
      readonly trailerNames?: string;
    }
  | { readonly ok: false; readonly problem: string };

/**
 * Validates a client's response head before anything reaches the visitor: a status from 200 to
 * 599 (or 101 answering an upgrade), well-formed header names and values, hop-by-hop fields and
 * tunnel metadata removed. A bad head is refused as a whole: the visitor gets a 502, never a
 * forged or half-valid response. Repeated fields are joined with ", " (RFC 9110 §5.3), except
 * Set-Cookie, whose lines stay separate.
 */
export function parseResponseHead(open: StreamOpen, upgradeRequested: boolean): ResponseHead {
  const statusText = open.header[WireHeader.status]?.values[0];
  if (statusText === undefined || !/^\d{3}$/.test(statusText))
    return { ok: false, problem: "missing or malformed status" };
  const status = Number(statusText);
  if (!((status >= 200 && status <= 599) || (status === 101 && upgradeRequested))) {
    return { ok: false, problem: `status ${status} not allowed` };
  }
  const header = open.header;
  const connection: string[] = [];
  // for-in, not Object.entries: no array per entry on every response.
  for (const name in header) {
    if (name.toLowerCase() === "connection")
      for (const value of (header[name] as HeaderValues).values) connection.push(value);
  }
  const hopByHop = hopByHopNames(connection);
  // Inheriting nothing: a field named "constructor" or "__proto__" is an ordinary entry.
  const headers: OutgoingHttpHeaders = emptyFieldMap();
  let upgrade: string | undefined;
  const trailer: string[] = [];
  for (const name in header) {
    const values = (header[name] as HeaderValues).values;
    if (!isToken(name)) return { ok: false, problem: "invalid header name" };
    for (const value of values)
      if (!isFieldValue(value)) return { ok: false, problem: `invalid value in header ${name}` };
    const lower = name.toLowerCase();
    if (lower === "upgrade" && status === 101) upgrade = values[0];
    if (lower === "trailer") trailer.push(...values);
    if (isWireHeader(lower) || hopByHop.has(lower) || values.length === 0) continue;
    const existing = headers[lower];
    if (lower === "set-cookie") headers[lower] = [...((existing as string[] | undefined) ?? []), ...values];
    else
      headers[lower] =
        existing === undefined
          ? values.length === 1
            ? values[0]
            : values.join(", ")
          : `${String(existing)}, ${values.join(", ")}`;
  }
  if (status === 101 && !upgrade) return { ok: false, problem: "101 without Upgrade" };
  const trailerNames = trailer.length > 0 ? announcedTrailers(trailer) : undefined;
  const length = headers["content-length"];
  if (length !== undefined && !/^\d{1,15}$/.test(String(length)))
    return { ok: false, problem: "invalid Content-Length" };
  return {
    ok: true,
    status,
    headers,
    ...(upgrade ? { upgrade } : {}),
    ...(length !== undefined ? { contentLength: Number(length) } : {}),
    ...(trailerNames !== undefined ? { trailerNames } : {}),
  };
}
