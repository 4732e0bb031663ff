import assert from "node:assert/strict";
import { once } from "node:events";
import http from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { describe, it, type TestContext } from "node:test";
import type { PeerTarget } from "../../src/server/cluster/peer-routes.js";
import type { AccessRecord } from "../../src/server/proxy/access-record.js";
import type { ExchangeContext } from "../../src/server/proxy/proxied-exchange.js";
import { relayRequest, relayUpgrade } from "../../src/server/proxy/relayed-exchange.js";

/** A peer whose link went down between the route lookup and the relay. */
const downPeer: PeerTarget = { id: "gone", openExchange: () => undefined };

function contextFor(records: AccessRecord[]): ExchangeContext {
  return {
    requestId: "req-1",
    domain: "app.example.test",
    startedAtMs: Date.now(),
    proxyTimeoutMs: 30_000,
    remoteAddress: "127.0.0.1",
    forwardedFor: ["127.0.0.1"],
    sendTimeoutMs: 30_000,
    bodyTimeoutMs: 0,
    maxBodyBytes: 0,
    onFinished: (record) => records.push(record),
    onLimited: () => undefined,
  };
}

/** A plain HTTP/1.1 edge that relays every request and upgrade to `peer`. */
async function relayingEdge(t: TestContext, peer: PeerTarget, records: AccessRecord[]): Promise<number> {
  const server = http.createServer((req, res) =>
    relayRequest(req, res, peer, contextFor(records), req.rawHeaders),
  );
  server.on("upgrade", (req: http.IncomingMessage, socket: Socket, head: Buffer) =>
    relayUpgrade(req, socket, head, peer, contextFor(records), req.rawHeaders),
  );
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  t.after(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return (server.address() as AddressInfo).port;
}

describe("relayed exchange (docs/scale-out.md)", () => {
  it("answers 502 and records tunnel_unavailable when the peer link is down as the relay starts", async (t) => {
    const records: AccessRecord[] = [];
    const port = await relayingEdge(t, downPeer, records);
    const response = await fetch(`http://127.0.0.1:${port}/x`, { method: "POST", body: "hello" });
    assert.equal(response.status, 502);
    await response.arrayBuffer();
    assert.deepEqual(
      records.map((r) => [r.status, r.error]),
      [[502, "tunnel_unavailable"]],
    );
  });

  it("answers an upgrade 502 and records tunnel_unavailable when the peer link is down", async (t) => {
    const records: AccessRecord[] = [];
    const port = await relayingEdge(t, downPeer, records);
    const req = http.request({
      port,
      host: "127.0.0.1",
      path: "/socket",
      headers: { connection: "Upgrade", upgrade: "websocket" },
    });
    req.end();
    const [response] = (await once(req, "response")) as [http.IncomingMessage];
    response.resume();
    assert.equal(response.statusCode, 502);
    assert.deepEqual(
      records.map((r) => [r.status, r.error]),
      [[502, "tunnel_unavailable"]],
    );
  });
});
