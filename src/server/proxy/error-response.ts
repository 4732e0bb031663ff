import type { Http2ServerRequest } from "node:http2";
import type { HopGateErrorCode } from "../../lib/hopgate-error.js";
import { refuseRestOfBody, type VisitorRequest, type VisitorResponse } from "./visitor.js";

/**
 * The one place where proxy failures become HTTP statuses and pages (STYLE.md rule 5). Pages
 * say what happened in user terms and carry the request id; internal error text never appears.
 */
const STATUS: Partial<Record<HopGateErrorCode, number>> = {
  invalid_input: 400,
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  payload_too_large: 413,
  rate_limited: 429,
  tunnel_unavailable: 502,
  tunnel_closed: 502,
  backend_failed: 502,
  protocol_violation: 502,
  unavailable: 503,
  timeout: 504,
  request_timeout: 408,
};

const MESSAGE: Partial<Record<HopGateErrorCode, string>> = {
  invalid_input: "The request is malformed.",
  unauthenticated: "This site asks for a username and password.",
  forbidden: "This site does not let this request in.",
  not_found: "No site is registered under this name.",
  payload_too_large: "The request body is larger than this gateway accepts.",
  rate_limited: "Too many requests. Please retry later.",
  tunnel_unavailable: "The site is registered, but no client is connected to serve it.",
  tunnel_closed: "The connection to the site's client was lost.",
  backend_failed: "The site's server did not answer correctly.",
  protocol_violation: "The site's client sent an invalid response.",
  unavailable: "The gateway is temporarily unavailable.",
  timeout: "The site's server did not answer in time.",
  request_timeout: "The request body did not arrive in time.",
};

const TITLE: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  408: "Request Timeout",
  413: "Content Too Large",
  429: "Too Many Requests",
  500: "Internal Server Error",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
};

export interface ErrorPage {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

export function errorStatus(code: HopGateErrorCode): number {
  return STATUS[code] ?? 500;
}

/** HTML by default; JSON when the visitor asks for JSON and not for HTML. */
export function errorPage(code: HopGateErrorCode, requestId: string, accept: string | undefined): ErrorPage {
  const status = errorStatus(code);
  const title = TITLE[status] ?? "Error";
  const message = MESSAGE[code] ?? "Something went wrong.";
  const wantsJson = accept !== undefined && /json/i.test(accept) && !/text\/html/i.test(accept);
  const body = wantsJson
    ? JSON.stringify({ error: { status, code, message }, request_id: requestId })
    : `<!doctype html>\n<html><head><meta charset="utf-8"><title>${status} ${title}</title></head>` +
      `<body><h1>${status} ${title}</h1><p>${message}</p><p><small>HopGate · request ${requestId}</small></p></body></html>\n`;
  return {
    status,
    headers: {
      "content-type": wantsJson ? "application/json; charset=utf-8" : "text/html; charset=utf-8",
      "content-length": String(Buffer.byteLength(body)),
      "cache-control": "no-store",
      "x-request-id": requestId,
    },
    body,
  };
}

export interface SendOptions {
  /** Extra response headers, e.g. `Retry-After`. */
  readonly headers?: Record<string, string>;
  /** Close the visitor's connection after the page: HTTP/1.1 `Connection: close`, HTTP/2 GOAWAY. */
  readonly closeConnection?: boolean;
}

/**
 * Answers a visitor's request with the page of `code` (nothing is written when a response is
 * already under way) and returns the page's status. A body over the limit (413) is refused:
 * HTTP/1.1 closes the connection after the page (the rest of the body is not worth reading),
 * HTTP/2 resets the stream once the page is out. Any other body is the caller's to drop.
 */
export function sendErrorPage(
  req: VisitorRequest,
  res: VisitorResponse,
  code: HopGateErrorCode,
  requestId: string,
  options: SendOptions = {},
): number {
  const page = errorPage(code, requestId, req.headers.accept);
  if (res.headersSent || res.destroyed) return page.status;
  const http1 = req.httpVersionMajor === 1;
  // The rest of a refused body (too large, or stalled) is not worth waiting for.
  const tooLarge = code === "payload_too_large" || code === "request_timeout";
  const close = options.closeConnection === true || (tooLarge && http1);
  res.writeHead(page.status, {
    ...page.headers,
    ...options.headers,
    ...(close && http1 ? { connection: "close" } : {}),
  });
  res.end(page.body);
  if (tooLarge) refuseRestOfBody(req);
  if (close && !http1) (req as Http2ServerRequest).stream.session?.close();
  return page.status;
}
