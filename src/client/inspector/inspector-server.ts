import http from "node:http";
import type { AddressInfo } from "node:net";
import type { ListenAddress } from "../../config/parsers.js";
import { INSPECTOR_PAGE } from "./inspector-page.js";
import { replay, type ReplayEdits } from "./replay.js";
import type { RequestLog } from "./request-log.js";
import { detailOf, summaryOf } from "./request-view.js";

export interface InspectorServer {
  readonly port: number;
  /** `http://host:port/` as a user would open it. */
  readonly url: string;
  close(): Promise<void>;
}

/** Largest replay request body the API accepts. */
const MAX_REPLAY_JSON_BYTES = 1024 * 1024;

/**
 * The request inspector's HTTP server: the page (`/`), its JSON API and a live stream (SSE):
 *   GET  /api/requests               newest first: {"requests":[summary...]}
 *   GET  /api/requests/{id}[?reveal=1]  heads, bodies and trailers (credentials masked unless
 *                                    reveal), and the response trailers the visitor did not get
 *   POST /api/requests/{id}/replay   re-send to the local service, optionally edited (409 for a
 *                                    request that ended with trailers: a replay would lose them)
 *   GET  /api/events                 text/event-stream of `request` events (summaries)
 * Requests whose Host is not the listen address (or localhost) are refused, so that a web
 * page cannot reach the API through DNS rebinding; a replay must be JSON (a cross-site form
 * cannot send it without a CORS preflight, which is never granted).
 */
export async function startInspectorServer(listen: ListenAddress, log: RequestLog): Promise<InspectorServer> {
  const streams = new Set<http.ServerResponse>();
  const server = http.createServer((req, res) => {
    void handle(req, res, log, streams, port).catch((error: unknown) => {
      if (!res.headersSent) send(res, 500, { error: (error as Error).message });
      else res.destroy();
    });
  });
  server.listen(listen.port, listen.host || undefined);
  await new Promise<void>((resolve, reject) => {
    server.once("listening", resolve);
    server.once("error", reject);
  });
  const port = (server.address() as AddressInfo).port;
  const unsubscribe = log.subscribe((event) => {
    const data = `event: request\ndata: ${JSON.stringify({ t: event.t, request: summaryOf(event.request) })}\n\n`;
    for (const stream of streams) stream.write(data);
  });
  const host = !listen.host || listen.host === "0.0.0.0" || listen.host === "::" ? "127.0.0.1" : listen.host;
  return {
    port,
    url: `http://${host.includes(":") ? `[${host}]` : host}:${port}/`,
    close: () =>
      new Promise((resolve) => {
        unsubscribe();
        for (const stream of streams) stream.end();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function handle(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  log: RequestLog,
  streams: Set<http.ServerResponse>,
  port: number,
): Promise<void> {
  if (!allowedHost(req.headers.host, port)) return send(res, 403, { error: "unexpected Host header" });
  const url = new URL(req.url ?? "/", "http://inspector");
  const parts = url.pathname.split("/").filter(Boolean);
  if (req.method === "GET" && url.pathname === "/") {
    res.writeHead(200, {
      "content-type": "text/html; charset=utf-8",
      "content-security-policy": "default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'",
      "cache-control": "no-store",
    });
    return void res.end(INSPECTOR_PAGE);
  }
  if (parts[0] !== "api") return send(res, 404, { error: "not found" });
  if (req.method === "GET" && url.pathname === "/api/requests") {
    return send(res, 200, { requests: log.list().map(summaryOf) });
  }
  if (req.method === "GET" && url.pathname === "/api/events") {
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-store" });
    res.write(": connected\n\n");
    streams.add(res);
    res.on("close", () => streams.delete(res));
    return;
  }
  const id =
    parts[1] === "requests" && parts[2] !== undefined && /^\d+$/.test(parts[2]) ? Number(parts[2]) : NaN;
  const entry = log.get(id);
  if (parts.length === 3 && req.method === "GET") {
    if (!entry) return send(res, 404, { error: `no request ${parts[2]}` });
    return send(res, 200, detailOf(entry, url.searchParams.get("reveal") === "1"));
  }
  if (parts.length === 4 && parts[3] === "replay" && req.method === "POST") {
    if (!entry) return send(res, 404, { error: `no request ${parts[2]}` });
    if (!/^application\/json\b/i.test(req.headers["content-type"] ?? "")) {
      return send(res, 415, { error: "send the edits as application/json ({} for none)" });
    }
    if (entry.requestTrailers.length > 0) {
      const names = [...new Set(entry.requestTrailers.filter((_, i) => i % 2 === 0))].join(", ");
      return send(res, 409, {
        error: `request ${entry.id} ended with trailers (${names}); the inspector cannot replay a request with trailers (a replay would silently lose them): send it again from its client`,
      });
    }
    const edits = parseEdits(await readBody(req));
    if (typeof edits === "string") return send(res, 400, { error: edits });
    const replayed = await replay(log, entry, edits);
    return send(res, 200, detailOf(replayed, false));
  }
  return send(res, 404, { error: "not found" });
}

function allowedHost(host: string | undefined, port: number): boolean {
  if (host === undefined) return false;
  const name = host.replace(new RegExp(`:${port}$`), "").toLowerCase();
  return (
    ["127.0.0.1", "localhost", "[::1]"].includes(name) ||
    /^\d+\.\d+\.\d+\.\d+$/.test(name) ||
    /^\[[0-9a-f:.]+\]$/.test(name)
  );
}

async function readBody(req: http.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.byteLength;
    if (size > MAX_REPLAY_JSON_BYTES) throw new Error("replay edits too large");
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}

function parseEdits(text: string): ReplayEdits | string {
  let value: unknown;
  try {
    value = text.trim() === "" ? {} : JSON.parse(text);
  } catch {
    return "edits are not JSON";
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return "edits must be an object";
  const { method, path, headers, body } = value as Record<string, unknown>;
  if (method !== undefined && (typeof method !== "string" || !/^[A-Z]{1,16}$/.test(method)))
    return "method must be an upper-case token";
  if (path !== undefined && (typeof path !== "string" || !/^\/[^\s]*$/.test(path)))
    return "path must start with '/' and hold no spaces";
  if (body !== undefined && typeof body !== "string") return "body must be a string";
  if (
    headers !== undefined &&
    !(
      Array.isArray(headers) &&
      headers.every((h) => Array.isArray(h) && h.length === 2 && h.every((p) => typeof p === "string"))
    )
  ) {
    return "headers must be a list of [name, value] pairs";
  }
  return {
    ...(method === undefined ? {} : { method }),
    ...(path === undefined ? {} : { path }),
    ...(headers === undefined ? {} : { headers: headers as Array<[string, string]> }),
    ...(body === undefined ? {} : { body }),
  };
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json", "cache-control": "no-store" });
  res.end(JSON.stringify(body));
}
