import type { VisitorRequest, VisitorResponse } from "../proxy/visitor.js";

/**
 * Size of a header list as HTTP/2 counts it against SETTINGS_MAX_HEADER_LIST_SIZE (RFC 9113
 * §6.5.2): every field's name and value in octets plus 32.
 */
export function headerListBytes(rawHeaders: readonly string[]): number {
  let bytes = 0;
  for (const field of rawHeaders) bytes += Buffer.byteLength(field, "latin1");
  return bytes + (rawHeaders.length / 2) * 32;
}

/**
 * What nghttp2 itself accepts of an HTTP/2 request's header list (our SETTINGS_MAX_HEADER_LIST_SIZE;
 * node resets a stream beyond it with ENHANCE_YOUR_CALM), far above HOP_SERVER_MAX_HEADER_BYTES
 * (at most 60 KiB): a head between the two reaches the listener, which answers 431 as HTTP/1.1
 * does (with the limit itself here, they were reset). Memory stays bounded: a connection
 * decodes one header block at a time, and nghttp2 ends a connection whose block
 * needs more than 8 CONTINUATION frames (about 144 KiB in 16 KiB frames; CVE-2024-28182) with
 * GOAWAY INTERNAL_ERROR, and one holding a single field over 64 KiB with GOAWAY
 * COMPRESSION_ERROR (its HPACK decoder's fixed limit).
 */
export const HTTP2_HEADER_LIST_CEILING_BYTES = 256 * 1024;

/**
 * node's count of header fields it accepts (`maxHeaderListPairs`, 128 by default: beyond it
 * ENHANCE_YOUR_CALM): every field counts at least 32 octets, so at this count the byte ceiling
 * binds first, and a head of many small fields gets its 431 too.
 */
export const HTTP2_HEADER_LIST_CEILING_PAIRS = HTTP2_HEADER_LIST_CEILING_BYTES / 32;

const BODY = "Request header fields too large\n";

/** RFC 6585 §5: 431, like node's HTTP/1.1 parser answers a head over the limit. */
export function refuseOversizedHead(req: VisitorRequest, res: VisitorResponse): void {
  res.writeHead(431, {
    "content-type": "text/plain; charset=utf-8",
    "content-length": String(BODY.length),
    "cache-control": "no-store",
  });
  res.end(BODY);
  req.resume();
}
