import type { OutgoingHttpHeaders } from "node:http";
import type { VisitorRequest } from "./visitor.js";

/**
 * Whether a response's trailer fields can reach this visitor. HTTP/2 always carries them (a
 * HEADERS frame that ends the stream, RFC 9113 §8.1). HTTP/1.1 carries them only in a chunked
 * body (RFC 9112 §7.1.2), and a proxy may send them only to a visitor that said it accepts them
 * with `TE: trailers` (RFC 9110 §10.1.4, §6.5.1): otherwise they are dropped, the body intact.
 * HTTP/1.0 and a response with a declared Content-Length have no chunked body; a response to HEAD,
 * a 204 and a 304 have no body at all (RFC 9110 §9.3.2, §15.3.5, §15.4.5), on either version.
 * When this holds, node frames an HTTP/1.1 response as chunked, so a `Trailer` field in its head
 * is safe (node throws ERR_HTTP_TRAILER_INVALID on one in any other message).
 */
export function acceptsTrailers(
  req: VisitorRequest,
  status: number,
  responseHeaders: OutgoingHttpHeaders,
): boolean {
  if (req.method === "HEAD" || status === 204 || status === 304) return false;
  if (req.httpVersionMajor === 2) return true;
  if (req.httpVersionMajor !== 1 || req.httpVersionMinor < 1) return false;
  if (responseHeaders["content-length"] !== undefined) return false;
  const te = req.headers.te;
  if (typeof te !== "string") return false;
  return te.split(",").some((token) => token.split(";")[0]?.trim().toLowerCase() === "trailers");
}
