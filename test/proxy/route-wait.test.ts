import assert from "node:assert/strict";
import { once } from "node:events";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { describe, it, type TestContext } from "node:test";
import { PeerRoutes, type PeerTarget } from "../../src/server/cluster/peer-routes.js";
import type { AccessRecord } from "../../src/server/proxy/access-record.js";
import { createProxy } from "../../src/server/proxy/proxy.js";
import { SessionRegistry } from "../../src/server/tunnel/session-registry.js";
import { pollUntil } from "../helpers/poll-until.js";

const DOMAIN = "app.example.test";
/** Far longer than the test: a wait still pending at its end was not cancelled. */
const TUNNEL_WAIT_MS = 120_000;

/** A proxy on a plain HTTP/1.1 listener, its domain registered and served by no tunnel yet. */
async function waitingProxy(t: TestContext) {
  const registry = new SessionRegistry();
  const peers = new PeerRoutes();
  const records: AccessRecord[] = [];
  const proxy = createProxy({
    lookup: registry,
    peers,
    isRegistered: (domain) => domain === DOMAIN,
    proxyTimeoutMs: 30_000,
    sendTimeoutMs: 30_000,
    tunnelWaitMs: () => TUNNEL_WAIT_MS,
    onFinished: (record) => records.push(record),
  });
  const server = http.createServer(proxy.handleRequest);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  t.after(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { registry, peers, records, port: (server.address() as AddressInfo).port };
}

describe("waiting for a route (docs/scale-out.md)", () => {
  it("cancels the local tunnel wait once a peer announces the domain", async (t) => {
    const { registry, peers, records, port } = await waitingProxy(t);
    const request = http.get({ host: "127.0.0.1", port, path: "/", headers: { host: DOMAIN } });
    const answer = once(request, "response") as Promise<[http.IncomingMessage]>;
    await pollUntil(
      () => registry.waiting === 1 && peers.waiting === 1,
      10_000,
      () => `waiting locally ${registry.waiting}, for a peer ${peers.waiting}`,
    );
    // A holder whose link drops as the relay starts: the request is answered at once either way.
    const holder: PeerTarget = { id: "holder", openExchange: () => undefined };
    peers.announce(holder, new Set([DOMAIN]));
    const [response] = await answer;
    response.resume();
    assert.equal(response.statusCode, 502);
    assert.deepEqual(
      records.map((r) => r.error),
      ["tunnel_unavailable"],
    );
    assert.equal(peers.waiting, 0);
    assert.equal(registry.waiting, 0, "the losing local wait was left pending with its timer");
  });
});
