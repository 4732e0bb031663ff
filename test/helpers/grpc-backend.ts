import { once } from "node:events";
import http2, { type IncomingHttpHeaders, type ServerHttp2Stream } from "node:http2";
import type { AddressInfo } from "node:net";
import type { TestContext } from "node:test";
import type { TestCertificate } from "./self-signed-cert.js";

/** One gRPC Length-Prefixed-Message (grpc PROTOCOL-HTTP2.md), uncompressed. */
export function grpcFrame(message: string): Buffer {
  const body = Buffer.from(message);
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(body.length, 1);
  return Buffer.concat([prefix, body]);
}

/** The messages of a gRPC body, as strings. */
export function grpcMessages(body: Buffer): string[] {
  const messages: string[] = [];
  for (let at = 0; at + 5 <= body.length;) {
    const length = body.readUInt32BE(at + 1);
    messages.push(body.subarray(at + 5, at + 5 + length).toString());
    at += 5 + length;
  }
  return messages;
}

export interface GrpcBackend {
  /** `h2c://127.0.0.1:<port>` (`h2://` with `tls`), for a client's service. */
  readonly url: string;
  /** Request heads the backend received, in order. */
  readonly requests: IncomingHttpHeaders[];
  /** Request trailer sections the backend received, in order. */
  readonly requestTrailers: IncomingHttpHeaders[];
  /** Resolves when a `/test.Echo/Forever` call's stream closes, with its RST_STREAM code. */
  foreverClosed(): Promise<number>;
  /** With `tls`: presents `certificate` on connections from now on (open ones keep theirs). */
  useCertificate(certificate: TestCertificate): void;
}

export interface GrpcBackendOptions {
  /** Serve HTTP/2 over TLS (ALPN h2, no HTTP/1.1) with this certificate instead of h2c. */
  readonly tls?: TestCertificate;
}

/**
 * A gRPC server on node:http2 (cleartext, prior knowledge; TLS with `tls`), answering application/grpc calls as
 * grpc servers do: response headers, messages, then trailers with grpc-status (RFC 9113 §8.1).
 * Methods: `/test.Echo/Unary` (one reply), `/test.Echo/Stream` (three replies, 50 ms apart),
 * `/test.Echo/Missing` (headers, then grpc-status 5 NOT_FOUND with a message in the trailers),
 * `/test.Echo/TrailersOnly` (grpc-status 5 in the headers, no body: gRPC's Trailers-Only).
 * Every reply's trailers also carry `x-trailer-method`, and `set-cookie` and `x-hopgate-status`,
 * which the tunnel must not let through as trailers (RFC 9110 §6.5.1; tunnel metadata).
 */
export async function startGrpcBackend(
  t: TestContext,
  options: GrpcBackendOptions = {},
): Promise<GrpcBackend> {
  const requests: IncomingHttpHeaders[] = [];
  const requestTrailers: IncomingHttpHeaders[] = [];
  const { promise: foreverCode, resolve: foreverClosed } = Promise.withResolvers<number>();
  const secure = options.tls ? http2.createSecureServer({ ...options.tls, allowHTTP1: false }) : undefined;
  const server = secure ?? http2.createServer();
  server.on("stream", (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => {
    requests.push(headers);
    stream.on("error", () => undefined);
    stream.on("trailers", (trailers: IncomingHttpHeaders) => requestTrailers.push(trailers));
    if (String(headers[":path"]).endsWith("/Forever")) {
      // A server-streaming call that never ends by itself: one reply every 20 ms until cancelled.
      stream.respond({ ":status": 200, "content-type": "application/grpc" });
      const timer = setInterval(() => stream.write(grpcFrame("tick")), 20);
      stream.once("close", () => {
        clearInterval(timer);
        foreverClosed(stream.rstCode ?? 0);
      });
      return;
    }
    const chunks: Buffer[] = [];
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    stream.on("end", () => answer(stream, String(headers[":path"]), grpcMessages(Buffer.concat(chunks))));
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("session", (session: http2.ServerHttp2Session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
  });
  // Sessions first: close() waits for them, and a failed test may leave a stream running.
  t.after(() => {
    for (const session of sessions) session.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return {
    url: `${secure ? "h2" : "h2c"}://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    requestTrailers,
    foreverClosed: () => foreverCode,
    useCertificate: (certificate) => {
      if (!secure) throw new Error("an h2c backend has no certificate");
      secure.setSecureContext(certificate);
    },
  };
}

function answer(stream: ServerHttp2Stream, path: string, messages: string[]): void {
  const method = path.split("/").pop() ?? "";
  if (method === "TrailersOnly") {
    stream.respond(
      {
        ":status": 200,
        "content-type": "application/grpc",
        "grpc-status": "5",
        "grpc-message": "nothing here",
      },
      { endStream: true },
    );
    return;
  }
  const trailers = (status: string, message: string) => ({
    "grpc-status": status,
    "grpc-message": message,
    "x-trailer-method": method,
    "set-cookie": "session=stolen",
    "x-hopgate-status": "500",
  });
  stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
  if (method === "Unary") {
    stream.once("wantTrailers", () => stream.sendTrailers(trailers("0", "")));
    stream.end(grpcFrame(`echo:${messages.join(",")}`));
  } else if (method === "Stream") {
    stream.once("wantTrailers", () => stream.sendTrailers(trailers("0", "")));
    let sent = 0;
    const timer = setInterval(() => {
      stream.write(grpcFrame(`part-${sent}`));
      if (++sent === 3) {
        clearInterval(timer);
        stream.end();
      }
    }, 50);
    stream.once("close", () => clearInterval(timer));
  } else {
    stream.once("wantTrailers", () => stream.sendTrailers(trailers("5", "item%20not%20found")));
    stream.end();
  }
}
