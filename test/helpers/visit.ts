import http2 from "node:http2";
import https from "node:https";
import type { IncomingHttpHeaders } from "node:http";
import { Readable, type Writable } from "node:stream";
import { tlsFixture } from "./tls-fixture.js";

export interface Visit {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
  /** The trailer fields that ended the response; empty without any. */
  readonly trailers: IncomingHttpHeaders;
}

export interface VisitOptions {
  readonly method?: string;
  readonly headers?: Record<string, string | string[]>;
  readonly body?: Buffer | string | Iterable<Buffer> | AsyncIterable<Buffer>;
  readonly http2?: boolean;
  readonly timeoutMs?: number;
  /** TLS server name; the host without port and trailing dot when omitted. */
  readonly servername?: string;
  /** The gateway's address to connect to: 127.0.0.1 when omitted, `::1` for IPv6. */
  readonly address?: string;
}

/**
 * A visitor's HTTPS request to the gateway on 127.0.0.1:`port` (or `options.address`) for `host` (SNI and Host), over
 * HTTP/1.1 or HTTP/2, trusting the test certificate. Resolves with the whole response.
 */
export function visit(port: number, host: string, path: string, options: VisitOptions = {}): Promise<Visit> {
  // SNI carries the bare name: no port, no trailing dot (RFC 6066 §3).
  options = { servername: host.replace(/:\d+$/, "").replace(/\.$/, "").toLowerCase(), ...options };
  return options.http2 ? visitHttp2(port, host, path, options) : visitHttp1(port, host, path, options);
}

function visitHttp1(port: number, host: string, path: string, options: VisitOptions): Promise<Visit> {
  return new Promise((resolve, reject) => {
    const req = https.request({
      host: options.address ?? "127.0.0.1",
      port,
      path,
      method: options.method ?? "GET",
      servername: options.servername,
      headers: { host, ...options.headers },
      ca: tlsFixture().cert,
      agent: false,
      timeout: options.timeoutMs ?? 30_000,
    });
    req.on("timeout", () => req.destroy(new Error("visit timed out")));
    req.on("error", reject);
    req.on("response", (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("error", reject);
      res.on("aborted", () => reject(new Error("response aborted")));
      res.on("end", () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks),
          trailers: res.trailers,
        }),
      );
    });
    void sendBody(req, options.body);
  });
}

function visitHttp2(port: number, host: string, path: string, options: VisitOptions): Promise<Visit> {
  return new Promise((resolve, reject) => {
    const address = options.address ?? "127.0.0.1";
    const session = http2.connect(`https://${address.includes(":") ? `[${address}]` : address}:${port}`, {
      ca: tlsFixture().cert,
      servername: options.servername,
    });
    session.on("error", reject);
    // node ends DELETE/GET/HEAD streams at once unless told otherwise.
    const req = session.request(
      { ":method": options.method ?? "GET", ":path": path, ":authority": host, ...options.headers },
      { endStream: options.body === undefined },
    );
    req.setTimeout(options.timeoutMs ?? 30_000, () => req.close(http2.constants.NGHTTP2_CANCEL));
    const chunks: Buffer[] = [];
    let headers: IncomingHttpHeaders = {};
    let trailers: IncomingHttpHeaders = {};
    req.on("response", (h) => (headers = h as IncomingHttpHeaders));
    req.on("trailers", (h: IncomingHttpHeaders) => (trailers = h));
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("error", (error: Error) => {
      session.close();
      reject(error);
    });
    req.on("close", () => {
      session.close();
      if (req.rstCode !== http2.constants.NGHTTP2_NO_ERROR)
        return reject(new Error(`stream reset ${req.rstCode}`));
      resolve({ status: Number(headers[":status"]), headers, body: Buffer.concat(chunks), trailers });
    });
    void sendBody(req, options.body);
  });
}

async function sendBody(req: Writable, body: VisitOptions["body"]): Promise<void> {
  if (body === undefined) {
    req.end();
    return;
  }
  if (typeof body === "string" || Buffer.isBuffer(body)) {
    req.end(body);
    return;
  }
  for await (const chunk of Readable.from(body) as AsyncIterable<Buffer>) {
    if (!req.write(chunk)) await new Promise((resolve) => req.once("drain", resolve));
  }
  req.end();
}
