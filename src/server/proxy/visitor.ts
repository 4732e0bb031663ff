import type { IncomingMessage, OutgoingHttpHeaders } from "node:http";
import { constants, type Http2ServerRequest } from "node:http2";

/** A visitor's request on either protocol of the edge (HTTP/1.1 or HTTP/2 compat API). */
export type VisitorRequest = IncomingMessage | Http2ServerRequest;

/** What the proxy uses of `http.ServerResponse` and `http2.Http2ServerResponse` alike. */
export interface VisitorResponse {
  readonly headersSent: boolean;
  readonly destroyed: boolean;
  readonly writableEnded: boolean;
  /** HTTP/1.1: fail a write or end that disagrees with Content-Length. */
  strictContentLength?: boolean;
  writeHead(status: number, headers: OutgoingHttpHeaders): unknown;
  /** Sent after the body: HTTP/1.1 only in a chunked body (visitor-trailers.ts), HTTP/2 always. */
  addTrailers(headers: OutgoingHttpHeaders): void;
  write(chunk: Uint8Array, callback: (error?: Error | null) => void): boolean;
  end(): unknown;
  end(body: string | Uint8Array): unknown;
  destroy(error?: Error): unknown;
  once(event: "drain" | "close", listener: () => void): unknown;
  off(event: "drain" | "close", listener: () => void): unknown;
}

/** Host as the visitor sent it: `Host` on HTTP/1.1, `:authority` (or Host) on HTTP/2. */
export function visitorHost(req: Pick<VisitorRequest, "headers">): string {
  const host = req.headers.host ?? req.headers[":authority"];
  return typeof host === "string" ? host : "";
}

/**
 * Whether the request carries more than one Host field line: RFC 9112 §3.2 requires a 400, and
 * routing by the first (node keeps only the first in `headers.host`) would let a front proxy
 * that picks the last one route the same request elsewhere.
 */
export function hasRepeatedHost(req: { readonly rawHeaders: readonly string[] }): boolean {
  let count = 0;
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.length === 4 && raw[i]!.toLowerCase() === "host" && ++count > 1) return true;
  }
  return false;
}

/** Path without the query, for routing. */
export function visitorPath(url: string | undefined): string {
  if (!url) return "/";
  const query = url.indexOf("?");
  return query === -1 ? url : url.slice(0, query);
}

/**
 * Whether a body of unknown length follows the head: HTTP/1.1 Transfer-Encoding (node's parser
 * already refused TE together with Content-Length), or an HTTP/2 stream whose HEADERS frame
 * did not end it and that declared no Content-Length.
 */
export function hasBodyOfUnknownLength(req: VisitorRequest): boolean {
  if (req.headers["content-length"] !== undefined) return false;
  if (req.httpVersionMajor === 2) return !(req as Http2ServerRequest).stream.endAfterHeaders;
  return req.headers["transfer-encoding"] !== undefined;
}

/**
 * After the final response to a request whose body is refused (413): HTTP/2 resets the stream
 * with NO_ERROR once the response is out, which tells the visitor to stop sending (RFC 9113
 * §8.1). HTTP/1.1 has no such signal: the response carries Connection: close instead.
 */
export function refuseRestOfBody(req: VisitorRequest): void {
  if (req.httpVersionMajor === 2) (req as Http2ServerRequest).stream.close(constants.NGHTTP2_NO_ERROR);
}
