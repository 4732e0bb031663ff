import assert from "node:assert/strict";
import { describe, it, type TestContext } from "node:test";
import type { TunnelClientStatus } from "../../src/client/tunnel-client.js";
import { GrpcCode } from "../../src/protocol/grpc-status.js";
import { echoed, echoHandler, startBackend, type Echo } from "../helpers/backend.js";
import { startGateway, startTestClient, type Gateway, type TestClient } from "../helpers/gateway.js";
import { HostilePeer } from "../helpers/hostile-peer.js";
import { captureLogs } from "../helpers/log-capture.js";
import { until } from "../helpers/poll-until.js";
import { startV1GoClientTo } from "../helpers/v1-go-client.js";
import { tlsFixture } from "../helpers/tls-fixture.js";
import { visit } from "../helpers/visit.js";

// The test certificate holds DNS:*.example.test: it is the wildcard certificate from files that
// labels under the wildcard base domain *.example.test are served with.
const WILDCARD = "*.example.test";

async function gatewayWithWildcard(t: TestContext, flags: Record<string, string> = {}) {
  const gateway = await startGateway(t, flags);
  const backend = await startBackend(t, echoHandler);
  const key = await gateway.register(WILDCARD);
  return { gateway, backend, key };
}

function connectedTo(client: TestClient): string | undefined {
  const status = client.statuses.findLast((s) => s.t === "connected");
  return status?.t === "connected" ? status.hostname : undefined;
}

function refusals(client: TestClient): Array<Extract<TunnelClientStatus, { t: "waiting" }>> {
  return client.statuses.filter((s) => s.t === "waiting" && s.cause === "rejected") as Array<
    Extract<TunnelClientStatus, { t: "waiting" }>
  >;
}

/** How the gateway ends a v2 tunnel that presents `domain` and `apiKey`. */
async function handshakeEnd(gateway: Gateway, domain: string, apiKey: string, version: 1 | 2 = 2) {
  const peer = new HostilePeer({ port: gateway.port, ca: tlsFixture().cert, domain, apiKey, version });
  const accept = await peer.ready;
  const end = accept ? undefined : await peer.ended;
  peer.close();
  return end ?? { accepted: accept?.hostname };
}

describe("self-service subdomains under a wildcard base domain", () => {
  it("serves a label under the wildcard with the wildcard's key, over TLS with HTTP/1.1 and HTTP/2", async (t) => {
    const { gateway, backend, key } = await gatewayWithWildcard(t);
    const client = startTestClient(t, gateway, "demo.example.test", key, [`web=${backend.url}`]);
    await client.connected;
    assert.equal(connectedTo(client), "demo.example.test");
    assert.equal((await client.handle).tunnel.publicUrl, `https://demo.example.test:${gateway.port}`);
    for (const http2 of [false, true]) {
      const response = await visit(gateway.port, "demo.example.test", "/hello", { http2 });
      assert.equal(response.status, 200, response.body.toString());
      const echo = JSON.parse(response.body.toString()) as Echo;
      assert.deepEqual(echoed(echo, "host"), ["demo.example.test"]);
    }
    // A label nobody holds answers as an unknown domain does.
    const free = await visit(gateway.port, "nobody.example.test", "/");
    assert.equal(free.status, 404);
  });

  it("assigns a random unguessable label for --domain auto and routes it", async (t) => {
    const { gateway, backend, key } = await gatewayWithWildcard(t);
    const first = startTestClient(t, gateway, "auto", key, [`web=${backend.url}`]);
    const second = startTestClient(t, gateway, "auto", key, [`web=${backend.url}`]);
    await Promise.all([first.connected, second.connected]);
    const hostnames = [connectedTo(first), connectedTo(second)];
    for (const hostname of hostnames) {
      assert.match(hostname ?? "", /^[a-z][a-z2-7]{15}\.example\.test$/);
      const response = await visit(gateway.port, hostname ?? "", "/");
      assert.equal(response.status, 200);
      assert.deepEqual(echoed(JSON.parse(response.body.toString()) as Echo, "host"), [hostname]);
    }
    assert.notEqual(hostnames[0], hostnames[1]);
  });

  it("gives a contested label to exactly one of two racing clients; the other is told why", async (t) => {
    const { gateway, backend, key } = await gatewayWithWildcard(t);
    const logs = [captureLogs(), captureLogs()];
    const clients = logs.map((log) =>
      startTestClient(t, gateway, "race.example.test", key, [`web=${backend.url}`], {}, log.logger),
    );
    await Promise.race(clients.map((client) => client.connected));
    await until(() => clients.some((client) => refusals(client).length > 0), "the loser's refusal");
    const winners = clients.filter((client) => connectedTo(client) !== undefined);
    assert.equal(winners.length, 1);
    const loserIndex = clients.findIndex((client) => connectedTo(client) === undefined);
    const loser = clients[loserIndex] as TestClient;
    assert.match(
      refusals(loser)[0]?.reason ?? "",
      /^race\.example\.test is held by another client; choose another label \(label_taken\)$/,
    );
    const said = logs[loserIndex]?.lines.find((line) => line.level === "error" || line.level === 50);
    assert.match(String(said?.msg), /another client holds it/);
    const response = await visit(gateway.port, "race.example.test", "/");
    assert.equal(response.status, 200);

    // The exact status on the wire: ALREADY_EXISTS with the same message.
    const end = await handshakeEnd(gateway, "race.example.test", key);
    assert.ok("grpcStatus" in end, "the third tunnel must be refused");
    assert.equal(end.grpcStatus, GrpcCode.alreadyExists);
    assert.match(end.grpcMessage, /race\.example\.test is held by another client/);
  });

  it("keeps a released label for its own client during the grace period, then frees it", async (t) => {
    const { gateway, backend, key } = await gatewayWithWildcard(t, { subdomainGraceSeconds: "3" });
    const first = startTestClient(t, gateway, "keep.example.test", key, [`web=${backend.url}`]);
    await first.connected;
    // The server drops the tunnel: the same client reconnects and gets its label back, while a
    // stranger asking for it meanwhile is refused.
    gateway.server.registry.closeDomain("keep.example.test", "test");
    const duringGrace = await handshakeEnd(gateway, "keep.example.test", key);
    assert.ok("grpcStatus" in duringGrace);
    assert.equal(duringGrace.grpcStatus, GrpcCode.alreadyExists);
    assert.match(duringGrace.grpcMessage, /held (by another client|for a reconnect of its client)/);
    await until(
      () => first.statuses.filter((s) => s.t === "connected").length === 2,
      "the first client's reconnect",
    );
    assert.equal((await visit(gateway.port, "keep.example.test", "/")).status, 200);

    // The client leaves: its label is refused to others until the grace period ends, then free.
    await (await first.handle).stop();
    const stoppedAtMs = Date.now();
    const refused = await handshakeEnd(gateway, "keep.example.test", key);
    assert.ok("grpcStatus" in refused);
    assert.equal(refused.grpcStatus, GrpcCode.alreadyExists);
    assert.match(refused.grpcMessage, /held for a reconnect of its client/);
    assert.equal((await visit(gateway.port, "keep.example.test", "/")).status, 502);
    const second = startTestClient(t, gateway, "keep.example.test", key, [`web=${backend.url}`]);
    await second.connected;
    assert.ok(Date.now() - stoppedAtMs >= 2_500, "the label must stay reserved for the grace period");
    assert.equal(connectedTo(second), "keep.example.test");
    assert.equal((await visit(gateway.port, "keep.example.test", "/")).status, 200);
  });

  it("frees a label at once with a grace period of 0, and only the wildcard's key claims labels", async (t) => {
    const { gateway, backend, key } = await gatewayWithWildcard(t, { subdomainGraceSeconds: "0" });
    const otherKey = await gateway.register("app.other.test");
    const first = startTestClient(t, gateway, "now.example.test", key, [`web=${backend.url}`]);
    await first.connected;
    await (await first.handle).stop();
    await until(async () => (await visit(gateway.port, "now.example.test", "/")).status === 404, "release");
    const taken = await handshakeEnd(gateway, "now.example.test", key);
    assert.deepEqual(taken, { accepted: "now.example.test" });
    const wrongKey = await handshakeEnd(gateway, "then.example.test", otherKey);
    assert.ok("grpcStatus" in wrongKey);
    assert.equal(wrongKey.grpcStatus, GrpcCode.permissionDenied);
  });

  const REFUSED: Array<[string, string]> = [
    ["the base domain itself", "example.test"],
    ["a name two labels deep", "a.b.example.test"],
    ["another registered domain", "app.other.test"],
    ["an unregistered domain", "app.elsewhere.test"],
    ["the server's main domain", "gateway.test"],
  ];
  for (const [what, domain] of REFUSED) {
    it(`refuses the wildcard's key for ${what}`, async (t) => {
      const { gateway, key } = await gatewayWithWildcard(t);
      await gateway.register("app.other.test");
      const end = await handshakeEnd(gateway, domain, key);
      assert.ok("grpcStatus" in end, `${domain} must be refused`);
      assert.equal(end.grpcStatus, GrpcCode.permissionDenied);
      assert.equal(end.grpcMessage, "invalid domain or api key");
      const visited = await visit(gateway.port, domain, "/", { servername: "name.example.test" });
      assert.notEqual(visited.status, 200);
    });
  }

  it("serves a label to a v1 Go client, which gets no TunnelAccept", async (t) => {
    const { gateway, backend, key } = await gatewayWithWildcard(t);
    const peer = startV1GoClientTo(t, gateway, {
      domain: "v1.example.test",
      apiKey: key,
      localTarget: `127.0.0.1:${backend.port}`,
    });
    await until(() => gateway.server.registry.hasTunnel("v1.example.test"), "the v1 tunnel");
    assert.equal(gateway.server.registry.list({ domain: "v1.example.test" })[0]?.protocolVersion, 1);
    const response = await visit(gateway.port, "v1.example.test", "/v1");
    assert.equal(response.status, 200);
    assert.equal((JSON.parse(response.body.toString()) as Echo).url, "/v1");
    assert.equal(
      peer.received.some((envelope) => envelope.payload.case === "tunnelAccept"),
      false,
    );
  });

  it("refuses auto to a v1 client and to a key that is no wildcard's", async (t) => {
    const { gateway, key } = await gatewayWithWildcard(t);
    const exactKey = await gateway.register("app.other.test");
    const v1 = await handshakeEnd(gateway, "auto", key, 1);
    assert.ok("grpcStatus" in v1);
    assert.equal(v1.grpcStatus, GrpcCode.invalidArgument);
    assert.equal(v1.grpcMessage, "domain auto needs a v2 client");
    const notWildcard = await handshakeEnd(gateway, "auto", exactKey);
    assert.ok("grpcStatus" in notWildcard);
    assert.equal(notWildcard.grpcStatus, GrpcCode.permissionDenied);
  });

  it("limits the labels one wildcard holds and ends their tunnels when the wildcard is revoked", async (t) => {
    const { gateway, backend, key } = await gatewayWithWildcard(t, { subdomainMaxLabels: "1" });
    const first = startTestClient(t, gateway, "one.example.test", key, [`web=${backend.url}`]);
    await first.connected;
    const second = await handshakeEnd(gateway, "two.example.test", key);
    assert.ok("grpcStatus" in second);
    assert.equal(second.grpcStatus, GrpcCode.resourceExhausted);
    assert.match(second.grpcMessage, /\*\.example\.test already holds its limit of 1 labels/);
    await gateway.server.domains.revoke(WILDCARD);
    await until(
      async () => (await visit(gateway.port, "one.example.test", "/")).status === 404,
      "revocation",
    );
    assert.equal(gateway.server.registry.list({ domain: "one.example.test" }).length, 0);
  });
});
