import assert from "node:assert/strict";
import http2 from "node:http2";
import { describe, it, type TestContext } from "node:test";
import fc from "fast-check";
import { silentLogger } from "../../src/lib/logger.js";
import { OPEN_TUNNEL_PATH } from "../../src/protocol/handshake.js";
import { createDispatch, createTunnelStreamTest } from "../../src/server/edge/dispatch.js";
import { startEdge } from "../../src/server/edge/edge.js";
import type { Proxy } from "../../src/server/proxy/proxy.js";
import type { VisitorRequest } from "../../src/server/proxy/visitor.js";
import type { TunnelCallHead } from "../../src/server/tunnel/tunnel-endpoint.js";
import { tlsFixture } from "../helpers/tls-fixture.js";

const MAIN = "gateway.test";

/** What reached the edge's tunnel handler, and whether node's compatibility layer saw it first. */
interface Seen {
  readonly path: string;
  readonly viaCompatibilityLayer: boolean;
}

/** A real edge (TLS, HTTP/2) whose tunnel, admin and proxy handlers only record and answer 200/204. */
async function startRecordingEdge(t: TestContext, maxHeaderBytes = 32 * 1024) {
  const tunnelCalls: Seen[] = [];
  const proxied: string[] = [];
  const fixture = tlsFixture();
  const answer = (res: {
    writeHead(status: number, headers: Record<string, string>): unknown;
    end(): unknown;
  }) => {
    res.writeHead(204, {});
    res.end();
  };
  const proxy: Proxy = {
    handleRequest: (req, res) => {
      proxied.push(req.url ?? "");
      req.resume();
      answer(res);
    },
    handleUpgrade: (_req, socket) => socket.destroy(),
  };
  const edge = await startEdge({
    listen: { host: "127.0.0.1", port: 0 },
    tls: { cert: fixture.cert, key: fixture.key },
    mainDomain: MAIN,
    debug: false,
    logger: silentLogger(),
    maxHeaderBytes,
    tunnel: (head: TunnelCallHead) => {
      // The compatibility layer's request listens for "aborted" on the stream; a raw stream has none.
      tunnelCalls.push({ path: head.path, viaCompatibilityLayer: head.stream.listenerCount("aborted") > 0 });
      head.stream.resume();
      head.stream.respond(
        { ":status": 200, "content-type": "application/grpc", "grpc-status": "0" },
        { endStream: true },
      );
    },
    admin: (req, res) => {
      req.resume();
      answer(res);
    },
    proxy,
  });
  t.after(() => edge.close());
  return { port: edge.port, tunnelCalls, proxied };
}

async function post(t: TestContext, port: number, headers: http2.OutgoingHttpHeaders): Promise<number> {
  const session = http2.connect(`https://127.0.0.1:${port}`, { rejectUnauthorized: false });
  t.after(() => session.destroy());
  const stream = session.request({ ":method": "POST", "content-type": "application/grpc", ...headers });
  const status = new Promise<number>((resolve, reject) => {
    stream.once("response", (h) => resolve(Number(h[":status"])));
    stream.once("error", reject);
  });
  stream.resume();
  stream.end();
  const answered = await status;
  session.close();
  return answered;
}

describe("the edge's claim on tunnel streams", () => {
  it("serves an exact OpenTunnel call from its raw stream, a path needing normalization through node's layer, both to the tunnel", async (t) => {
    const edge = await startRecordingEdge(t);
    assert.equal(await post(t, edge.port, { ":authority": MAIN, ":path": OPEN_TUNNEL_PATH }), 200);
    const roundabout = "/hopgate.protocol.v1.HopGateTunnel/x/../OpenTunnel";
    assert.equal(await post(t, edge.port, { ":authority": MAIN, ":path": roundabout }), 200);
    assert.deepEqual(edge.tunnelCalls, [
      { path: OPEN_TUNNEL_PATH, viaCompatibilityLayer: false },
      { path: OPEN_TUNNEL_PATH, viaCompatibilityLayer: true },
    ]);
    assert.deepEqual(edge.proxied, []);
  });

  it("leaves a tenant's host, a head over the limit and an Expect to the dispatch as before", async (t) => {
    const edge = await startRecordingEdge(t, 2048);
    assert.equal(await post(t, edge.port, { ":authority": "app.test", ":path": OPEN_TUNNEL_PATH }), 204);
    assert.deepEqual(edge.proxied, [OPEN_TUNNEL_PATH], "a tenant's own gRPC path goes to the proxy");
    const oversized = { ":authority": MAIN, ":path": OPEN_TUNNEL_PATH, "x-padding": "p".repeat(4096) };
    assert.equal(await post(t, edge.port, oversized), 431);
    assert.equal(
      await post(t, edge.port, { ":authority": MAIN, ":path": OPEN_TUNNEL_PATH, expect: "x-test" }),
      417,
    );
    assert.deepEqual(edge.tunnelCalls, []);
  });

  it("claims a head only when the dispatch would send the same request to the tunnel (property)", () => {
    const tunnelHeads: VisitorRequest[] = [];
    const record = (to: string) => (req: VisitorRequest) => {
      if (to === "tunnel") tunnelHeads.push(req);
    };
    const dispatch = createDispatch({
      mainDomain: MAIN,
      debug: true,
      tunnel: record("tunnel"),
      admin: record("admin"),
      mainDomainFallback: record("fallback"),
      proxy: record("proxy"),
    });
    const claims = createTunnelStreamTest(MAIN, true);
    const host = fc.constantFrom(
      MAIN,
      "GATEWAY.test",
      `${MAIN}.`,
      `${MAIN}:443`,
      "app.test",
      "127.0.0.1",
      "[::1]",
      "localhost",
      "",
    );
    const path = fc.constantFrom(
      OPEN_TUNNEL_PATH,
      `${OPEN_TUNNEL_PATH}?x=1`,
      "/hopgate.protocol.v1.HopGateTunnel/Other",
      "/api/v1/admin",
      "/",
      OPEN_TUNNEL_PATH.toLowerCase(),
    );
    const contentType = fc.constantFrom(
      undefined,
      "application/grpc",
      "application/grpc+proto",
      "text/plain",
    );
    fc.assert(
      fc.property(
        fc.record({
          authority: fc.option(host, { nil: undefined }),
          hosts: fc.array(host, { maxLength: 2 }),
          path,
          contentType,
          expect: fc.option(fc.constant("100-continue"), { nil: undefined }),
        }),
        (h) => {
          const headers: http2.IncomingHttpHeaders = { ":method": "POST", ":path": h.path };
          const rawHeaders: string[] = [":method", "POST", ":path", h.path];
          if (h.authority !== undefined) {
            headers[":authority"] = h.authority;
            rawHeaders.push(":authority", h.authority);
          }
          if (h.hosts[0] !== undefined) headers.host = h.hosts[0];
          for (const value of h.hosts) rawHeaders.push("host", value);
          if (h.contentType !== undefined) {
            headers["content-type"] = h.contentType;
            rawHeaders.push("content-type", h.contentType);
          }
          if (h.expect !== undefined) {
            headers.expect = h.expect;
            rawHeaders.push("expect", h.expect);
          }
          tunnelHeads.length = 0;
          const req = { url: h.path, headers, rawHeaders, httpVersionMajor: 2 } as unknown as VisitorRequest;
          dispatch(req, {} as never);
          if (claims({ headers, rawHeaders })) assert.equal(tunnelHeads.length, 1, JSON.stringify(h));
        },
      ),
      { numRuns: 500 },
    );
    // The property is not vacuous: the ordinary tunnel head is claimed.
    const ordinary = { ":authority": MAIN, ":path": OPEN_TUNNEL_PATH, "content-type": "application/grpc" };
    assert.ok(claims({ headers: ordinary, rawHeaders: Object.entries(ordinary).flat() }));
  });
});
