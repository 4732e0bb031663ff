import assert from "node:assert/strict";
import { once } from "node:events";
import http2, { type ClientHttp2Session, type IncomingHttpHeaders } from "node:http2";
import { describe, it, type TestContext } from "node:test";
import { startGateway, startTestClient } from "../helpers/gateway.js";
import { grpcFrame, grpcMessages, startGrpcBackend } from "../helpers/grpc-backend.js";
import { tlsFixture } from "../helpers/tls-fixture.js";
import { within } from "../helpers/within.js";
import { freePort } from "../helpers/free-port.js";

const DOMAIN = "grpc.example.test";

interface GrpcCallEnd {
  readonly headers: IncomingHttpHeaders;
  readonly messages: string[];
  readonly trailers: IncomingHttpHeaders | undefined;
}

/** A gRPC visitor: HTTP/2 over TLS to the public edge, as any gRPC client calls a server. */
async function connectVisitor(t: TestContext, port: number): Promise<ClientHttp2Session> {
  const session = http2.connect(`https://127.0.0.1:${port}`, { ca: tlsFixture().cert, servername: DOMAIN });
  t.after(() => session.destroy());
  await once(session, "connect");
  return session;
}

function grpcCall(
  session: ClientHttp2Session,
  method: string,
  message: string,
  requestTrailers?: Record<string, string>,
): Promise<GrpcCallEnd> {
  return new Promise((resolve, reject) => {
    const stream = session.request(
      {
        ":method": "POST",
        ":path": `/test.Echo/${method}`,
        ":authority": DOMAIN,
        "content-type": "application/grpc",
        te: "trailers",
      },
      { waitForTrailers: requestTrailers !== undefined },
    );
    if (requestTrailers) stream.once("wantTrailers", () => stream.sendTrailers(requestTrailers));
    let headers: IncomingHttpHeaders = {};
    let trailers: IncomingHttpHeaders | undefined;
    const chunks: Buffer[] = [];
    stream.on("response", (h) => (headers = h));
    stream.on("trailers", (h: IncomingHttpHeaders) => (trailers = h));
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    stream.on("error", reject);
    stream.on("close", () => resolve({ headers, messages: grpcMessages(Buffer.concat(chunks)), trailers }));
    stream.end(grpcFrame(message));
  });
}

async function grpcGateway(t: TestContext) {
  const gateway = await startGateway(t);
  const backend = await startGrpcBackend(t);
  const key = await gateway.register(DOMAIN);
  await within(
    startTestClient(t, gateway, DOMAIN, key, [`grpc=${backend.url}`]).connected,
    "the client to connect",
  );
  return { gateway, backend, visitor: await connectVisitor(t, gateway.port) };
}

describe("gRPC through the tunnel (HTTP/2 service, response trailers)", () => {
  it("delivers a unary call's reply and its trailers, grpc-status and a custom one", async (t) => {
    const { visitor, backend } = await grpcGateway(t);
    const end = await within(grpcCall(visitor, "Unary", "hello"), "the unary call");
    assert.equal(end.headers[":status"], 200);
    assert.equal(end.headers["content-type"], "application/grpc");
    assert.deepEqual(end.messages, ["echo:hello"]);
    assert.ok(end.trailers, "the call ended with a trailers block");
    assert.equal(end.trailers["grpc-status"], "0");
    assert.equal(end.trailers["x-trailer-method"], "Unary");
    assert.equal(end.trailers["set-cookie"], undefined, "set-cookie is never a trailer");
    assert.equal(end.trailers["x-hopgate-status"], undefined, "tunnel metadata is never a trailer");
    assert.equal(backend.requests[0]?.te, "trailers", "the backend is told trailers are accepted");
    assert.deepEqual(backend.requestTrailers, [], "no trailer section is made up for a request without one");
  });

  it("delivers a server-streaming call's replies in order, then its trailers", async (t) => {
    const { visitor } = await grpcGateway(t);
    const end = await within(grpcCall(visitor, "Stream", "go"), "the streaming call");
    assert.deepEqual(end.messages, ["part-0", "part-1", "part-2"]);
    assert.equal(end.trailers?.["grpc-status"], "0");
    assert.equal(end.trailers?.["x-trailer-method"], "Stream");
  });

  it("delivers an error status with its message, in trailers and as Trailers-Only", async (t) => {
    const { visitor } = await grpcGateway(t);
    const missing = await within(grpcCall(visitor, "Missing", "x"), "the failing call");
    assert.deepEqual(missing.messages, []);
    assert.equal(missing.trailers?.["grpc-status"], "5");
    assert.equal(missing.trailers?.["grpc-message"], "item%20not%20found");
    const only = await within(grpcCall(visitor, "TrailersOnly", "x"), "the Trailers-Only call");
    assert.equal(only.headers["grpc-status"], "5");
    assert.equal(only.headers["grpc-message"], "nothing here");
  });

  it("serves many concurrent calls on one visitor connection, each with its own trailers", async (t) => {
    const { visitor } = await grpcGateway(t);
    const ends = await within(
      Promise.all(
        Array.from({ length: 20 }, (_, i) => grpcCall(visitor, i % 2 ? "Unary" : "Missing", `m${i}`)),
      ),
      "20 concurrent calls",
    );
    ends.forEach((end, i) => assert.equal(end.trailers?.["grpc-status"], i % 2 ? "0" : "5", `call ${i}`));
  });

  it("answers 502 for an HTTP/2 service that is down, without harm to the client", async (t) => {
    const gateway = await startGateway(t);
    const port = await freePort();
    const key = await gateway.register(DOMAIN);
    await within(
      startTestClient(t, gateway, DOMAIN, key, [`grpc=h2c://127.0.0.1:${port}`]).connected,
      "the client to connect",
    );
    const visitor = await connectVisitor(t, gateway.port);
    const down = await within(grpcCall(visitor, "Unary", "x"), "the call to a service that is down");
    assert.equal(down.headers[":status"], 502);
    assert.equal(down.trailers, undefined);
    const again = await within(grpcCall(visitor, "Unary", "y"), "a second call");
    assert.equal(again.headers[":status"], 502, "the client still serves its tunnel");
  });

  it("carries an HTTP/2 visitor's request trailers to the service, validated", async (t) => {
    const { visitor, backend } = await grpcGateway(t);
    const end = await within(
      grpcCall(visitor, "Unary", "with trailers", {
        "x-request-checksum": "r1",
        authorization: "Bearer late",
      }),
      "the call with request trailers",
    );
    assert.equal(end.trailers?.["grpc-status"], "0");
    assert.equal(backend.requestTrailers.length, 1);
    assert.equal(backend.requestTrailers[0]?.["x-request-checksum"], "r1");
    assert.equal(backend.requestTrailers[0]?.authorization, undefined, "authorization is never a trailer");
  });

  it("cancels the service's stream when the visitor cancels a streaming call", async (t) => {
    const { visitor, backend } = await grpcGateway(t);
    const call = visitor.request({
      ":method": "POST",
      ":path": "/test.Echo/Forever",
      ":authority": DOMAIN,
      "content-type": "application/grpc",
      te: "trailers",
    });
    call.on("error", () => undefined);
    call.end(grpcFrame("start"));
    await within(once(call, "data"), "the first reply");
    call.close(http2.constants.NGHTTP2_CANCEL);
    const code = await within(backend.foreverClosed(), "the service's stream to be cancelled");
    assert.equal(code, http2.constants.NGHTTP2_CANCEL);
  });
});
