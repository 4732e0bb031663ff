import http from "node:http";
import http2, { type ClientHttp2Stream, type IncomingHttpHeaders } from "node:http2";
import https from "node:https";
import type { ServiceSpec } from "../../config/service-spec.js";
import { withHost } from "../host-header.js";
import { flatHttp2Fields, http2RequestHeaders } from "../http2-fields.js";
import { CapturedBody } from "./captured-body.js";
import type { LoggedRequest, RequestLog } from "./request-log.js";
import { MASK } from "./request-view.js";

/** What a replay may change; whatever is left out is the original request's. */
export interface ReplayEdits {
  readonly method?: string;
  readonly path?: string;
  /** Replaces all headers; a value left masked stands for the original's value. */
  readonly headers?: ReadonlyArray<readonly [string, string]>;
  readonly body?: string;
}

/** Longest a replayed request may take. */
const REPLAY_TIMEOUT_MS = 60_000;

/** A replay's outcome, as `RequestLog.finish` takes it. */
interface ReplayResult {
  readonly status: number;
  readonly error: string | undefined;
}

/**
 * Sends `original` (optionally edited) once more to the local service it went to (never
 * anywhere else), in the service's protocol (HTTP/2 for h2c:// and h2://, as the tunnel
 * forwards to it), and records the exchange in `log` as a new request. Resolves once it is
 * done. Request trailers are not re-sent: the inspector server refuses such a replay.
 */
export async function replay(
  log: RequestLog,
  original: LoggedRequest,
  edits: ReplayEdits,
): Promise<LoggedRequest> {
  const headers = edits.headers
    ? unmasked(edits.headers, original.requestHeaders)
    : [...original.requestHeaders];
  const body = edits.body === undefined ? original.requestBody.bytes() : Buffer.from(edits.body);
  const flat = withContentLength(
    headers,
    body.byteLength,
    edits.body !== undefined || original.requestBody.truncated,
  );
  const entry = log.start({
    domain: original.domain,
    service: original.service,
    target: original.target,
    method: edits.method ?? original.method,
    path: edits.path ?? original.path,
    requestHeaders: flat,
    requestBody: CapturedBody.of(body, log.maxBodyBytes),
    replayOf: original.id,
  });
  const startedAtMs = Date.now();
  const service = original.target;
  const sent = service.hostHeader === undefined ? flat : withHost(flat, service.hostHeader);
  const result = await (service.http2 ? overHttp2 : overHttp1)(service, entry, sent, body);
  log.finish(entry, { ...result, durationMs: Date.now() - startedAtMs });
  return entry;
}

function overHttp1(
  service: ServiceSpec,
  entry: LoggedRequest,
  sent: string[],
  body: Buffer,
): Promise<ReplayResult> {
  const secure = service.target.protocol === "https:";
  return new Promise<ReplayResult>((resolve) => {
    const request = (secure ? https : http).request({
      protocol: service.target.protocol,
      hostname: service.target.hostname.replace(/^\[|\]$/g, ""),
      port: service.target.port || (secure ? 443 : 80),
      method: entry.method,
      path: entry.path,
      headers: sent,
      setHost: false,
      agent: false,
      timeout: REPLAY_TIMEOUT_MS,
      rejectUnauthorized: service.backendTls?.rejectUnauthorized ?? false,
      ...(service.backendTls?.ca === undefined ? {} : { ca: service.backendTls.ca }),
    });
    request.on("timeout", () => request.destroy(new Error(`no answer within ${REPLAY_TIMEOUT_MS} ms`)));
    request.on("error", (error) => resolve({ status: 502, error: `backend: ${error.message}` }));
    request.on("response", (response) => {
      entry.status = response.statusCode ?? 502;
      entry.responseHeaders = [...response.rawHeaders];
      response.on("data", (chunk: Buffer) => entry.responseBody.add(chunk));
      response.on("end", () => {
        entry.responseTrailers = [...response.rawTrailers];
        resolve({ status: entry.status ?? 502, error: undefined });
      });
      response.on("error", (error) =>
        resolve({ status: entry.status ?? 502, error: `backend: ${error.message}` }),
      );
    });
    request.end(body);
  });
}

/** On a connection of its own, closed when the replay is done; response trailers are kept. */
function overHttp2(
  service: ServiceSpec,
  entry: LoggedRequest,
  sent: string[],
  body: Buffer,
): Promise<ReplayResult> {
  const headers = http2RequestHeaders({ method: entry.method, path: entry.path, headers: sent }, service);
  return new Promise<ReplayResult>((resolve) => {
    const session = http2.connect(service.target.origin, {
      rejectUnauthorized: service.backendTls?.rejectUnauthorized ?? false,
      ...(service.backendTls?.ca === undefined ? {} : { ca: service.backendTls.ca }),
    });
    const done = (result: ReplayResult) => {
      clearTimeout(timer);
      session.destroy();
      resolve(result);
    };
    const timer = setTimeout(
      () => done({ status: entry.status ?? 502, error: `backend: no answer within ${REPLAY_TIMEOUT_MS} ms` }),
      REPLAY_TIMEOUT_MS,
    );
    session.on("error", (error: Error) =>
      done({ status: entry.status ?? 502, error: `backend: ${error.message}` }),
    );
    let request: ClientHttp2Stream;
    try {
      request = session.request(headers);
    } catch (error) {
      return done({ status: 502, error: `backend: ${(error as Error).message}` });
    }
    request.on("response", (head: IncomingHttpHeaders) => {
      entry.status = Number(head[":status"] ?? 502);
      entry.responseHeaders = flatHttp2Fields(head);
    });
    request.on(
      "trailers",
      (trailers: IncomingHttpHeaders) => (entry.responseTrailers = flatHttp2Fields(trailers)),
    );
    request.on("data", (chunk: Buffer) => entry.responseBody.add(chunk));
    request.on("end", () => done({ status: entry.status ?? 502, error: undefined }));
    request.on("error", (error: Error) =>
      done({ status: entry.status ?? 502, error: `backend: ${error.message}` }),
    );
    request.end(body);
  });
}

/**
 * The n-th masked line of a name stands for the original's n-th line of that name (two Cookie
 * lines, as HTTP/2 browsers send, stay two different values); past the original's count, its last.
 */
function unmasked(edited: ReadonlyArray<readonly [string, string]>, original: readonly string[]): string[] {
  const flat: string[] = [];
  const seen = new Map<string, number>();
  for (const [name, value] of edited) {
    const lower = name.toLowerCase();
    const nth = seen.get(lower) ?? 0;
    seen.set(lower, nth + 1);
    let real = value;
    if (value === MASK) {
      let found = 0;
      for (let i = 0; i < original.length; i += 2) {
        if ((original[i] as string).toLowerCase() !== lower) continue;
        real = original[i + 1] as string;
        if (found++ === nth) break;
      }
    }
    flat.push(name, real);
  }
  return flat;
}

/** The body is sent whole, so its framing is a Content-Length of its size. */
function withContentLength(headers: readonly string[], bytes: number, changed: boolean): string[] {
  const flat: string[] = [];
  let framed = false;
  for (let i = 0; i < headers.length; i += 2) {
    const lower = (headers[i] as string).toLowerCase();
    if (lower === "transfer-encoding") continue;
    if (lower === "content-length") {
      if (changed || framed) continue;
      framed = true;
    }
    flat.push(headers[i] as string, headers[i + 1] as string);
  }
  if (!framed && (bytes > 0 || changed)) flat.push("Content-Length", String(bytes));
  return flat;
}
