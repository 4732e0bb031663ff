import { request as httpRequest, type IncomingHttpHeaders } from "node:http";
import { connect as http2Connect } from "node:http2";
import { request as httpsRequest } from "node:https";
import { Readable } from "node:stream";

export interface TestResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly text: string;
  /** The body parsed as JSON (throws when it is not JSON). */
  json<T = Record<string, unknown>>(): T;
}

export interface TestRequest {
  readonly method?: string;
  readonly headers?: Record<string, string>;
  /** A string or Buffer is sent with Content-Length; an iterable of chunks without (chunked on HTTP/1.1). */
  readonly body?: string | Buffer | Iterable<Buffer>;
  /** CA to trust for https URLs. */
  readonly ca?: string;
  /** TLS server name (SNI) for https URLs over HTTP/1.1, when the URL's host is an address. */
  readonly servername?: string;
  /** Accept any certificate (https over HTTP/1.1): for tests of what lies behind TLS, not of it. */
  readonly anyCertificate?: boolean;
  /** Use HTTP/2 (https URLs only). */
  readonly http2?: boolean;
}

/** One real request over a socket; resolves with the whole response. */
export function sendRequest(url: string, options: TestRequest = {}): Promise<TestResponse> {
  return options.http2 ? sendHttp2(url, options) : sendHttp1(url, options);
}

function sendHttp1(url: string, options: TestRequest): Promise<TestResponse> {
  const target = new URL(url);
  const send = target.protocol === "https:" ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(target, {
      method: options.method ?? "GET",
      headers: options.headers,
      ca: options.ca,
      servername: options.servername,
      rejectUnauthorized: options.anyCertificate !== true,
      agent: false,
    });
    req.on("error", reject);
    req.on("response", (res) => {
      let text = "";
      res.setEncoding("utf8").on("data", (chunk: string) => (text += chunk));
      res.on("error", reject);
      res.on("end", () => resolve(response(res.statusCode ?? 0, res.headers, text)));
    });
    writeBody(req, options.body);
  });
}

function sendHttp2(url: string, options: TestRequest): Promise<TestResponse> {
  const target = new URL(url);
  return new Promise((resolve, reject) => {
    const session = http2Connect(target.origin, { ca: options.ca });
    session.on("error", reject);
    const stream = session.request({
      ":method": options.method ?? "GET",
      ":path": `${target.pathname}${target.search}`,
      ...options.headers,
    });
    let text = "";
    let headers: IncomingHttpHeaders = {};
    stream.on("response", (received) => (headers = received as IncomingHttpHeaders));
    stream.setEncoding("utf8").on("data", (chunk: string) => (text += chunk));
    stream.on("error", reject);
    stream.on("close", () => {
      session.close();
      resolve(response(Number(headers[":status"]), headers, text));
    });
    writeBody(stream, options.body);
  });
}

function writeBody(sink: NodeJS.WritableStream, body: TestRequest["body"]): void {
  if (body === undefined) sink.end();
  else if (typeof body === "string" || Buffer.isBuffer(body)) sink.end(body);
  else
    Readable.from(body)
      .on("error", () => sink.end())
      .pipe(sink);
}

function response(status: number, headers: IncomingHttpHeaders, text: string): TestResponse {
  return { status, headers, text, json: <T>() => JSON.parse(text) as T };
}
