import http from "node:http";
import { canonicalHeaderName, headerValues, type HeaderMap } from "../../src/protocol/wire-headers.js";

/**
 * A local call made the way the v1 Go client makes it with Go's net/http client, so that a
 * test backend sees what it would see behind a real v1 client.
 */
export interface GoLocalRequest {
  /** HOP_CLIENT_LOCAL_TARGET, host:port. */
  readonly localTarget: string;
  readonly method: string;
  readonly url: string;
  /** Host header; the local target when absent (Go's default). */
  readonly host: string | undefined;
  /** The request's `http.Header` as the Go client built it from a StreamOpen. */
  readonly header: HeaderMap;
  /** The whole body: the Go client buffers it before calling. */
  readonly body: Buffer;
}

/** The Go client's http.Client timeout for a local call. */
const LOCAL_CALL_TIMEOUT_MS = 30_000;
/** Fields Go's request writer never copies from Request.Header (net/http reqWriteExcludeHeader). */
const GO_EXCLUDED = new Set(["Host", "Content-Length", "Transfer-Encoding", "Trailer"]);

export function goLocalCall(agent: http.Agent, request: GoLocalRequest): Promise<http.IncomingMessage> {
  const colon = request.localTarget.lastIndexOf(":");
  return new Promise((resolve, reject) => {
    const call = http.request({
      host: request.localTarget.slice(0, colon),
      port: Number(request.localTarget.slice(colon + 1)),
      method: request.method,
      path: request.url,
      headers: goRequestLines(request),
      setHost: false,
      agent,
      timeout: LOCAL_CALL_TIMEOUT_MS,
    });
    call.on("timeout", () => call.destroy(new Error("Client.Timeout exceeded")));
    call.on("error", reject);
    call.on("response", resolve);
    call.end(request.body.length > 0 ? request.body : undefined);
  });
}

/**
 * Header lines as Go's http.Client writes them: keys canonicalized (Header.Add), excluded
 * fields dropped, Content-Length from the buffered body (also 0 for POST, PUT and PATCH), a
 * default User-Agent.
 */
function goRequestLines(request: GoLocalRequest): string[] {
  const lines = ["Host", request.host || request.localTarget];
  let userAgent = false;
  for (const [name, { values }] of Object.entries(request.header)) {
    const key = canonicalHeaderName(name);
    if (GO_EXCLUDED.has(key)) continue;
    if (key === "User-Agent") userAgent = true;
    for (const value of values) lines.push(key, value);
  }
  if (!userAgent) lines.push("User-Agent", "Go-http-client/1.1");
  if (request.body.length > 0 || ["POST", "PUT", "PATCH"].includes(request.method)) {
    lines.push("Content-Length", String(request.body.length));
  }
  return lines;
}

/**
 * A response's header as Go's `http.Response.Header` holds it: canonical keys, values in
 * order, Transfer-Encoding removed (Go moves it to Response.TransferEncoding).
 */
export function goResponseHeader(rawHeaders: readonly string[]): HeaderMap {
  const header: HeaderMap = {};
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const key = canonicalHeaderName(rawHeaders[i] as string);
    if (key === "Transfer-Encoding") continue;
    const entry = header[key];
    if (entry) entry.values.push(rawHeaders[i + 1] as string);
    else header[key] = headerValues([rawHeaders[i + 1] as string]);
  }
  return header;
}
