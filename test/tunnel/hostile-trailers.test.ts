import assert from "node:assert/strict";
import { once } from "node:events";
import http2, { type ClientHttp2Session, type IncomingHttpHeaders } from "node:http2";
import { describe, it, type TestContext } from "node:test";
import fc from "fast-check";
import { frame } from "../../src/protocol/frames.js";
import { emptyFieldMap, headerValues, type HeaderMap } from "../../src/protocol/wire-headers.js";
import { startGateway } from "../helpers/gateway.js";
import { grpcMessage, HostilePeer, responseHead } from "../helpers/hostile-peer.js";
import { tlsFixture } from "../helpers/tls-fixture.js";
import { within } from "../helpers/within.js";

const DOMAIN = "trailers.example.test";

interface VisitorEnd {
  readonly status: number | undefined;
  readonly body: string;
  readonly trailers: IncomingHttpHeaders | undefined;
  /** 0 for a clean end; an HTTP/2 error code when the gateway reset the stream. */
  readonly rstCode: number;
}

function get(session: ClientHttp2Session, path: string): Promise<VisitorEnd> {
  return new Promise((resolve) => {
    const stream = session.request({ ":path": path, ":authority": DOMAIN, te: "trailers" });
    let status: number | undefined;
    let trailers: IncomingHttpHeaders | undefined;
    let body = "";
    stream.on("response", (h) => (status = Number(h[":status"])));
    stream.on("trailers", (h: IncomingHttpHeaders) => (trailers = h));
    stream.setEncoding("utf8").on("data", (chunk: string) => (body += chunk));
    stream.on("error", () => undefined);
    stream.on("close", () => resolve({ status, body, trailers, rstCode: stream.rstCode ?? 0 }));
  });
}

/** A gateway, a hostile tunnel client for DOMAIN announcing `capabilities`, and an HTTP/2 visitor. */
async function setup(t: TestContext, capabilities?: readonly string[]) {
  const gateway = await startGateway(t);
  const apiKey = await gateway.register(DOMAIN);
  const peer = new HostilePeer({
    port: gateway.port,
    ca: tlsFixture().cert,
    domain: DOMAIN,
    apiKey,
    version: 2,
    ...(capabilities && { capabilities }),
  });
  t.after(() => peer.close());
  const accept = await within(peer.ready, "the TunnelAccept");
  const visitor = http2.connect(`https://127.0.0.1:${gateway.port}`, {
    ca: tlsFixture().cert,
    servername: DOMAIN,
  });
  t.after(() => visitor.destroy());
  await once(visitor, "connect");
  /** One visit the peer answers with a head, a body and then `trailers` (raw frames). */
  const exchange = async (trailers: (id: string) => void): Promise<VisitorEnd> => {
    const visit = get(visitor, "/x");
    const request = await within(peer.nextRequest(), "the request on the tunnel");
    peer.send(responseHead(request.id, "200", { "content-type": ["text/plain"] }));
    peer.send(frame.data(request.id, 0n, Buffer.from("body")));
    trailers(request.id);
    peer.send(frame.close(request.id));
    return within(visit, "the visitor's response");
  };
  /** The server still serves this tunnel: a plain exchange completes. */
  const stillServes = async () => {
    const end = await exchange(() => undefined);
    assert.equal(end.rstCode, 0);
    assert.equal(end.body, "body");
  };
  return { accept, peer, exchange, stillServes, gateway };
}

function mapOf(entries: ReadonlyArray<readonly [string, readonly string[]]>): HeaderMap {
  const map: HeaderMap = emptyFieldMap();
  for (const [name, values] of entries) map[name] = headerValues([...(map[name]?.values ?? []), ...values]);
  return map;
}

// The test's own reading of RFC 9110, independent of trailer-fields.ts.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const badValue = (value: string) =>
  [...value].some((c) => {
    const code = c.charCodeAt(0);
    return (code < 0x20 && code !== 0x09) || code === 0x7f || code > 0xff;
  });
const NEVER_DELIVERED = new Set([
  "content-length",
  "transfer-encoding",
  "set-cookie",
  "connection",
  "te",
  "trailer",
  "host",
  "content-type",
  "authorization",
  "cache-control",
  "location",
]);

describe("trailers from a hostile tunnel client", () => {
  it("are confirmed only to a client that announced them, and refused from one that did not", async (t) => {
    const { accept, peer, exchange, stillServes } = await setup(t, []);
    assert.deepEqual(accept?.capabilities, []);
    const end = await exchange((id) => peer.send(frame.trailers(id, mapOf([["grpc-status", ["0"]]]))));
    assert.notEqual(end.rstCode, 0, "the stream is reset, never ended as if complete");
    assert.equal(end.trailers, undefined);
    await stillServes();
  });

  it("cannot crash the server with a malformed StreamTrailers message: the tunnel ends, the server serves on", async (t) => {
    const { accept, peer, gateway } = await setup(t);
    assert.deepEqual(accept?.capabilities, ["trailers"]);
    // Envelope field 14 whose header map entry claims more bytes than the message holds.
    peer.sendRaw(grpcMessage(Buffer.from([0x72, 0x06, 0x0a, 0x01, 0x61, 0x12, 0x7f, 0x0a])));
    const ended = await within(peer.ended, "the tunnel to end");
    assert.equal(ended.grpcStatus, 13, "INTERNAL: malformed message");
    const other = new HostilePeer({
      port: gateway.port,
      ca: tlsFixture().cert,
      domain: "other.example.test",
      apiKey: await gateway.register("other.example.test"),
      version: 2,
    });
    t.after(() => other.close());
    assert.ok(await within(other.ready, "a new tunnel to be accepted"));
  });

  it("reach the visitor only as valid, allowed fields; a malformed section resets the stream", async (t) => {
    const { peer, exchange, stillServes } = await setup(t);
    const name = fc.oneof(
      fc.constantFrom(
        ":status",
        "grpc-status",
        "Grpc-Message",
        "X-HopGate-Status",
        "bad name",
        "x-ok",
        "__proto__",
      ),
      fc.constantFrom(...NEVER_DELIVERED),
      fc.string({ minLength: 1, maxLength: 8 }),
    );
    const value = fc.oneof(
      fc.constantFrom("0", "ok", "a\r\nInjected: 1", "nul\u0000", "\u0100"),
      fc.string({ maxLength: 8 }),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(name, fc.array(value, { minLength: 1, maxLength: 2 })), { maxLength: 5 }),
        async (entries) => {
          const map = mapOf(entries);
          const end = await exchange((id) => peer.send(frame.trailers(id, map)));
          const malformed = Object.keys(map).some(
            (n) => !TOKEN.test(n) || (map[n]?.values ?? []).some(badValue),
          );
          if (malformed) {
            assert.notEqual(end.rstCode, 0, "a malformed section resets the visitor's stream");
            assert.equal(end.trailers, undefined);
            return;
          }
          assert.equal(end.rstCode, 0);
          assert.equal(end.body, "body");
          const expected = new Map<string, string>();
          for (const n of Object.keys(map)) {
            const lower = n.toLowerCase();
            if (NEVER_DELIVERED.has(lower) || lower.startsWith("x-hopgate-")) continue;
            const joined = [expected.get(lower), ...(map[n]?.values ?? [])].filter((v) => v !== undefined);
            expected.set(lower, joined.join(", "));
          }
          const got = new Map<string, string>();
          for (const [n, v] of Object.entries(end.trailers ?? {})) {
            got.set(n, Array.isArray(v) ? v.join(", ") : String(v));
          }
          for (const n of got.keys())
            assert.ok(expected.has(n), `trailer ${n} was never sent as an allowed field`);
          for (const [n] of expected) assert.ok(got.has(n), `allowed trailer ${n} is delivered`);
        },
      ),
      { numRuns: 60 },
    );
    await stillServes();
  });

  it("sends a visitor's request trailers only to a client that announced the capability; the exchange completes either way", async (t) => {
    for (const capabilities of [[], ["trailers"]]) {
      const { peer, gateway } = await setup(t, capabilities);
      const visitor = http2.connect(`https://127.0.0.1:${gateway.port}`, {
        ca: tlsFixture().cert,
        servername: DOMAIN,
      });
      t.after(() => visitor.destroy());
      const call = visitor.request(
        { ":method": "POST", ":path": "/up", ":authority": DOMAIN },
        { waitForTrailers: true },
      );
      call.once("wantTrailers", () => call.sendTrailers({ "x-digest": "d1" }));
      call.on("error", () => undefined);
      let body = "";
      call.setEncoding("utf8").on("data", (chunk: string) => (body += chunk));
      const closed = once(call, "close");
      call.end("payload");
      const request = await within(peer.nextRequest(), "the request on the tunnel");
      assert.equal((await within(request.body, "the request body")).toString(), "payload");
      const trailerFrames = peer.received.filter((e) => e.payload.case === "streamTrailers");
      if (capabilities.length === 0)
        assert.deepEqual(trailerFrames, [], "an older client never gets StreamTrailers");
      else {
        assert.equal(trailerFrames.length, 1);
        const value = trailerFrames[0]?.payload.value as { id: string; header: HeaderMap };
        assert.equal(value.id, request.id);
        assert.deepEqual(value.header["x-digest"]?.values, ["d1"]);
      }
      peer.send(responseHead(request.id, "200"));
      peer.send(frame.data(request.id, 0n, Buffer.from("done")));
      peer.send(frame.close(request.id));
      await within(closed, "the visitor's response");
      assert.equal(body, "done");
      assert.equal(call.rstCode, 0);
    }
  });
});
