import assert from "node:assert/strict";
import http2 from "node:http2";
import { describe, it, type TestContext } from "node:test";
import { encodeGrpcMessage } from "../../src/protocol/envelope-encoder.js";
import { encodeHello, OPEN_TUNNEL_PATH } from "../../src/protocol/handshake.js";
import { startGateway } from "../helpers/gateway.js";
import { until } from "../helpers/poll-until.js";

interface CallEnd {
  readonly headers: http2.IncomingHttpHeaders;
  readonly trailers: http2.IncomingHttpHeaders;
}

/**
 * One raw gRPC call on the tunnel path: sends `body` (or nothing), then half-closes, unless
 * `silent`: then it sends nothing and leaves the stream open, for the server to end.
 */
async function rawCall(
  t: TestContext,
  port: number,
  options: { path?: string; headers?: http2.OutgoingHttpHeaders; body?: Buffer; silent?: boolean },
): Promise<CallEnd> {
  const session = http2.connect(`https://127.0.0.1:${port}`, { rejectUnauthorized: false });
  t.after(() => session.destroy());
  const stream = session.request({
    ":method": "POST",
    ":path": options.path ?? OPEN_TUNNEL_PATH,
    "content-type": "application/grpc",
    te: "trailers",
    ...options.headers,
  });
  let headers: http2.IncomingHttpHeaders = {};
  let trailers: http2.IncomingHttpHeaders = {};
  stream.on("response", (h) => (headers = h));
  stream.on("trailers", (h: http2.IncomingHttpHeaders) => (trailers = h));
  stream.resume();
  if (!options.silent) stream.end(options.body);
  await new Promise((resolve) => stream.once("close", resolve));
  return { headers, trailers };
}

/** grpc-status from a Trailers-Only response's headers or from the trailers. */
const statusOf = (end: CallEnd) => Number(end.headers["grpc-status"] ?? end.trailers["grpc-status"]);

describe("the tunnel's gRPC call on node:http2", () => {
  it("answers an unknown method and a compressed call with UNIMPLEMENTED", async (t) => {
    const gateway = await startGateway(t);
    const unknown = await rawCall(t, gateway.port, { path: "/hopgate.protocol.v1.HopGateTunnel/Other" });
    assert.equal(unknown.headers[":status"], 200);
    assert.equal(statusOf(unknown), 12);
    const gzip = await rawCall(t, gateway.port, { headers: { "grpc-encoding": "gzip" } });
    assert.equal(statusOf(gzip), 12);
  });

  it("refuses a compressed message, an oversized one and a bad key with a status and reason", async (t) => {
    const gateway = await startGateway(t);
    const compressed = Buffer.from([1, 0, 0, 0, 1, 0]);
    const flagged = await rawCall(t, gateway.port, { body: compressed });
    assert.equal(statusOf(flagged), 3, "INVALID_ARGUMENT");
    assert.equal(
      flagged.headers["hopgate-reject-reason"] ?? flagged.trailers["hopgate-reject-reason"],
      "malformed",
    );
    const huge = Buffer.from([0, 0x7f, 0xff, 0xff, 0xff]);
    assert.equal(statusOf(await rawCall(t, gateway.port, { body: huge })), 3);
    const hello = encodeGrpcMessage(
      encodeHello({
        domain: "nobody.example.test",
        apiKey: "k".repeat(64),
        localTarget: "",
        services: [{ name: "web", pathPrefix: "/" }],
        clientVersion: "test",
      }),
    );
    const refused = await rawCall(t, gateway.port, { body: hello });
    assert.equal(statusOf(refused), 7, "PERMISSION_DENIED");
    assert.equal(refused.headers["hopgate-reject-reason"], "unknown_domain");
  });

  it("survives a client that resets its call with an error code, before and after the handshake", async (t) => {
    const gateway = await startGateway(t);
    const apiKey = await gateway.register("reset.example.test");
    const hello = encodeGrpcMessage(
      encodeHello({
        domain: "reset.example.test",
        apiKey,
        localTarget: "",
        services: [{ name: "web", pathPrefix: "/" }],
        clientVersion: "test",
      }),
    );
    const session = http2.connect(`https://127.0.0.1:${gateway.port}`, { rejectUnauthorized: false });
    t.after(() => session.destroy());
    const open = () => {
      const stream = session.request({
        ":method": "POST",
        ":path": OPEN_TUNNEL_PATH,
        "content-type": "application/grpc",
        te: "trailers",
      });
      stream.on("error", () => undefined);
      stream.resume();
      return stream;
    };
    // Reset in the middle of the first message: the server hears RST_STREAM(INTERNAL_ERROR).
    const early = open();
    early.write(hello.subarray(0, 3));
    await new Promise((resolve) => setTimeout(resolve, 100));
    early.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
    // Reset once the tunnel was accepted (response headers came).
    const late = open();
    late.write(hello);
    await new Promise((resolve) => late.once("response", resolve));
    await until(() => gateway.server.registry.size === 1, "the tunnel to be registered");
    late.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
    await until(() => gateway.server.registry.size === 0, "the reset tunnel to be removed");
    // The server still answers calls.
    const unknown = await rawCall(t, gateway.port, { path: "/hopgate.protocol.v1.HopGateTunnel/Other" });
    assert.equal(statusOf(unknown), 12);
  });

  it("ends a call that never sends its first message at the handshake timeout", async (t) => {
    const gateway = await startGateway(t, { handshakeTimeoutSeconds: "1" });
    const startedAtMs = Date.now();
    const end = await rawCall(t, gateway.port, { silent: true });
    const elapsedMs = Date.now() - startedAtMs;
    t.diagnostic(`a silent call ended after ${elapsedMs} ms`);
    assert.equal(statusOf(end), 4, "DEADLINE_EXCEEDED");
    assert.equal(end.headers["hopgate-reject-reason"] ?? end.trailers["hopgate-reject-reason"], "timeout");
    assert.ok(elapsedMs >= 900 && elapsedMs < 10_000, `ended after ${elapsedMs} ms`);
    assert.equal(gateway.server.registry.size, 0);
  });
});
