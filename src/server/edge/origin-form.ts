import { normalizePathAndQuery } from "../../protocol/path-normalization.js";
import type { Duplex } from "node:stream";
import type { VisitorRequest, VisitorResponse } from "../proxy/visitor.js";

export type TargetAdoption = { readonly ok: true } | { readonly ok: false; readonly reason: string };

const ABSOLUTE_FORM = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)(.*)$/s;
/** RFC 3986 §3.2.2-3: reg-name (no percent-encoding) or IP literal, optional port. */
const AUTHORITY = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~!$&'()*+,;=-]+)(?::\d{0,5})?$/;

/**
 * Rewrites a visitor's request target in place before anything looks at it (dispatch, admin
 * API, proxy, access log), so that what routes is what the backend sees:
 * - absolute-form (`GET http://app.example.com/x HTTP/1.1`, RFC 9112 §3.2.2): its authority
 *   replaces Host, whatever Host said, and the target becomes origin-form;
 * - the path is normalized (path-normalization.ts), the query kept as sent.
 * `OPTIONS *` (asterisk-form) is left alone. Anything else, a malformed path or an absolute-form
 * target with userinfo or a scheme other than http(s), is refused (400, as nginx does).
 */
export function adoptOriginForm(req: VisitorRequest): TargetAdoption {
  const url = req.url ?? "";
  if (url === "*" && req.method === "OPTIONS") return { ok: true };
  let pathAndQuery = url;
  let authority: string | undefined;
  if (!url.startsWith("/")) {
    const absolute = ABSOLUTE_FORM.exec(url);
    // HTTP/2 has no absolute-form: :authority and :path are separate (RFC 9113 §8.3.1).
    if (!absolute || req.httpVersionMajor !== 1)
      return { ok: false, reason: "request target is not origin-form" };
    const [, scheme = "", host = "", rest = ""] = absolute;
    if (!/^https?$/i.test(scheme))
      return { ok: false, reason: `absolute-form scheme ${scheme} is not http(s)` };
    // RFC 9110 §4.2.4: userinfo in an http(s) URI is an error.
    if (!AUTHORITY.test(host)) return { ok: false, reason: "absolute-form authority is not host[:port]" };
    authority = host;
    pathAndQuery = rest.startsWith("/") ? rest : `/${rest}`;
  }
  const normalized = normalizePathAndQuery(pathAndQuery);
  if (!normalized.ok) return normalized;
  req.url = normalized.path;
  if (authority !== undefined) req.headers.host = authority;
  return { ok: true };
}

const BODY = "Bad Request: invalid request target\n";

/** The answer to a target adoptOriginForm refused: 400, the connection kept (its body drained). */
export function refuseTarget(req: VisitorRequest, res: VisitorResponse): void {
  res.writeHead(400, {
    "content-type": "text/plain; charset=utf-8",
    "content-length": String(BODY.length),
    "cache-control": "no-store",
  });
  res.end(BODY);
  req.resume();
}

/** The same for an HTTP/1.1 upgrade request, whose socket is ours: 400, then closed. */
export function refuseUpgradeTarget(socket: Duplex): void {
  socket.end(
    `HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${BODY.length}\r\nconnection: close\r\n\r\n${BODY}`,
  );
}
