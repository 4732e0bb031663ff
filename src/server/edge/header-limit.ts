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
