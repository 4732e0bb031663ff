import {
  Agent as HttpAgent,
  request as httpRequest,
  type IncomingMessage,
  type OutgoingHttpHeaders,
} from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import type { AmbiguousPathForm } from "../../protocol/ambiguous-path.js";
import { endToEndFields } from "../../protocol/hop-by-hop.js";

/** Where to ask and what to copy (docs/access.md, Forward auth). */
export interface ForwardAuthSpec {
  /** http(s) URL of the auth service's check endpoint (oauth2-proxy's /oauth2/auth, Authelia's /api/verify…). */
  readonly url: string;
  /** Lowercased names of auth-response headers to copy to the backend request (e.g. x-auth-request-user). */
  readonly copyHeaders: readonly string[];
  readonly timeoutMs: number;
  /**
   * Ambiguous path forms (ambiguous-path.ts) the operator declared the backend reads literally:
   * such paths are asked about, as the backend will get them, instead of refused with 400.
   */
  readonly allowAmbiguousPaths: ReadonlySet<AmbiguousPathForm>;
}

/** The visitor's request as the auth service is told about it. */
export interface ForwardAuthRequest {
  readonly method: string;
  /** Path and query as the backend gets them (the path normalized, path-normalization.ts). */
  readonly uri: string;
  /** The routed domain. */
  readonly host: string;
  readonly proto: "https" | "http";
  /** The forwarding chain: the visitor first, the TCP peer last (visitor-address.ts); may be empty. */
  readonly forwardedFor: readonly string[];
  /** The visitor's header lines (name, value, name, value…). */
  readonly rawHeaders: readonly string[];
}

export type ForwardAuthOutcome =
  /** 2xx: let the request in, with these auth-response headers (of copyHeaders) for the backend. */
  | { readonly t: "allow"; readonly copied: ReadonlyArray<readonly [string, string]> }
  /** Anything else: the auth service's answer goes to the visitor as it is (a login redirect, a 401…). */
  | {
      readonly t: "deny";
      readonly status: number;
      readonly headers: Record<string, string | string[]>;
      readonly body: Buffer;
    }
  /** No usable answer (unreachable, timeout, body too large). */
  | { readonly t: "failed"; readonly reason: string };

/**
 * Subrequests in flight to one auth service (per origin, for all domains that use it); more wait
 * for a free one within their own deadline, then fail (503). A flood of visitors therefore
 * costs the auth service at most this many concurrent requests, and the gateway at most this
 * many sockets per service. No keep-alive: a pooled socket the service has closed would turn
 * into a visitor's 503.
 */
export const MAX_FORWARD_AUTH_SUBREQUESTS = 32;
const agents = {
  http: new HttpAgent({ keepAlive: false, maxSockets: MAX_FORWARD_AUTH_SUBREQUESTS }),
  https: new HttpsAgent({ keepAlive: false, maxSockets: MAX_FORWARD_AUTH_SUBREQUESTS }),
};

/** Largest auth-service answer body passed to the visitor (a login page, a JSON error). */
export const MAX_FORWARD_AUTH_BODY_BYTES = 64 * 1024;
/** Not passed from the visitor to the auth service: its own framing and host are the subrequest's. */
const NOT_SENT = new Set(["host", "content-length", "transfer-encoding", "expect"]);
/** Set by HopGate (the visitor's own values are never trusted), as Caddy's forward_auth does. */
const FORWARDED = [
  "x-forwarded-method",
  "x-forwarded-proto",
  "x-forwarded-host",
  "x-forwarded-uri",
  "x-forwarded-for",
  "x-real-ip",
  "forwarded",
];
/**
 * Not passed from the auth answer to the visitor: framing the gateway sets itself, and the
 * connection-specific fields HTTP/2 forbids (RFC 9113 §8.2.2).
 */
const NOT_RETURNED = new Set([
  "content-length",
  "transfer-encoding",
  "connection",
  "keep-alive",
  "proxy-connection",
  "upgrade",
  "te",
  "trailer",
  "http2-settings",
]);

/**
 * Asks the auth service about one visitor request, as nginx's `auth_request` and Caddy's
 * `forward_auth` do: a GET without body carrying the visitor's end-to-end header lines (cookies,
 * Authorization) and X-Forwarded-Method/-Proto/-Host/-Uri/-For set by the gateway. A 2xx answer
 * allows; any other is handed to the visitor. The answer is read whole within `timeoutMs`.
 */
export function askForwardAuth(
  spec: ForwardAuthSpec,
  visitor: ForwardAuthRequest,
): Promise<ForwardAuthOutcome> {
  const url = new URL(spec.url);
  const secure = url.protocol === "https:";
  const send = secure ? httpsRequest : httpRequest;
  const agent = secure ? agents.https : agents.http;
  return new Promise((resolve) => {
    const req = send(url, {
      method: "GET",
      headers: subrequestHeaders(visitor),
      timeout: spec.timeoutMs,
      agent,
    });
    const deadline = setTimeout(
      () => req.destroy(new Error(`no answer within ${spec.timeoutMs} ms`)),
      spec.timeoutMs,
    );
    const settle = (outcome: ForwardAuthOutcome) => {
      clearTimeout(deadline);
      resolve(outcome);
    };
    req.on("timeout", () => req.destroy(new Error(`no answer within ${spec.timeoutMs} ms`)));
    req.on("error", (error) => settle({ t: "failed", reason: error.message }));
    req.on("response", (res) => {
      readBody(res).then(
        (body) => settle(outcomeOf(res, body, spec.copyHeaders)),
        (error: Error) => {
          req.destroy();
          settle({ t: "failed", reason: error.message });
        },
      );
    });
    req.end();
  });
}

function subrequestHeaders(visitor: ForwardAuthRequest): OutgoingHttpHeaders {
  const headers = endToEndFields(
    visitor.rawHeaders,
    (name) => name.startsWith(":") || NOT_SENT.has(name) || FORWARDED.includes(name),
  );
  return {
    ...headers,
    "x-forwarded-method": visitor.method,
    "x-forwarded-proto": visitor.proto,
    "x-forwarded-host": visitor.host,
    "x-forwarded-uri": visitor.uri,
    "x-forwarded-for": visitor.forwardedFor.join(", "),
    "x-real-ip": visitor.forwardedFor[0] ?? "",
  };
}

function outcomeOf(res: IncomingMessage, body: Buffer, copyHeaders: readonly string[]): ForwardAuthOutcome {
  const status = res.statusCode ?? 502;
  if (status >= 200 && status < 300) {
    const copied: Array<readonly [string, string]> = [];
    const raw = res.rawHeaders;
    for (let i = 0; i + 1 < raw.length; i += 2) {
      const name = raw[i]!.toLowerCase();
      if (copyHeaders.includes(name)) copied.push([name, raw[i + 1]!]);
    }
    return { t: "allow", copied };
  }
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(res.headers)) {
    if (value !== undefined && !NOT_RETURNED.has(name)) headers[name] = value;
  }
  headers["content-length"] = String(body.length);
  return { t: "deny", status: status < 200 ? 502 : status, headers, body };
}

function readBody(res: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    res.on("data", (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > MAX_FORWARD_AUTH_BODY_BYTES) {
        res.destroy();
        reject(new Error(`answer body over ${MAX_FORWARD_AUTH_BODY_BYTES} bytes`));
      } else chunks.push(chunk);
    });
    res.on("end", () => resolve(Buffer.concat(chunks)));
    res.on("error", reject);
    res.on("aborted", () => reject(new Error("answer aborted")));
  });
}
