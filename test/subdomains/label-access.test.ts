import assert from "node:assert/strict";
import { once } from "node:events";
import type { ClientRequest, IncomingMessage } from "node:http";
import { describe, it, type TestContext } from "node:test";
import { WebSocket, WebSocketServer } from "ws";
import { startBackend } from "../helpers/backend.js";
import { startGateway, startTestClient, type Gateway, type TestClient } from "../helpers/gateway.js";
import { tlsFixture } from "../helpers/tls-fixture.js";
import { visit, type VisitOptions } from "../helpers/visit.js";

// A visitor access policy put on a wildcard base domain guards every label served through it
// (docs/access.md, "Guarding labels"). The test certificate holds DNS:*.example.test.
const ADMIN_KEY = "label-access-admin-key-0123456789";
const WILDCARD = "*.example.test";
const basic = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;
const ALICE = { basic_auth: [{ username: "alice", password: "correct horse" }] };

/** A gateway with an admin key, the wildcard *.example.test, and a backend that logs what reaches it. */
async function labelSetup(t: TestContext) {
  const gateway = await startGateway(t, { adminApiKey: ADMIN_KEY });
  const seen: string[] = [];
  const backend = await startBackend(t, (req, res) => {
    seen.push(`${req.headers.host} ${req.url}`);
    res.writeHead(200, { "content-type": "text/plain" });
    res.end("backend");
  });
  const wss = new WebSocketServer({ server: backend.server });
  wss.on("connection", (socket, req) => {
    seen.push(`WS ${req.headers.host} ${req.url}`);
    socket.send("hello");
  });
  t.after(() => wss.close());
  const key = await gateway.register(WILDCARD);
  /** A client serving `domain` (a label, or "auto") with `apiKey`; resolves with its hostname. */
  const serve = async (domain: string, apiKey = key) => {
    const client = startTestClient(t, gateway, domain, apiKey, [`web=${backend.url}`]);
    await client.connected;
    return hostnameOf(client);
  };
  /** The admin API on `domain` as written in the path (`*.` or `%2A.`). */
  const admin = async (method: string, pathDomain: string, body?: unknown) => {
    const response = await visit(gateway.port, "gateway.test", `/api/v1/admin/domains/${pathDomain}/access`, {
      method,
      headers: {
        authorization: `Bearer ${ADMIN_KEY}`,
        ...(body !== undefined && { "content-type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = response.body.toString();
    return {
      status: response.status,
      text,
      json: () => JSON.parse(text) as { domain: string; access: { basic_auth: unknown } | null },
    };
  };
  return { gateway, key, seen, serve, admin, backend };
}

function hostnameOf(client: TestClient): string {
  const status = client.statuses.findLast((s) => s.t === "connected");
  assert.ok(status?.t === "connected" && status.hostname, "the client is connected");
  return status.hostname;
}

/** A WebSocket upgrade to `host` on the gateway; resolves with its status (101 or the refusal). */
async function upgradeStatus(
  t: TestContext,
  gateway: Gateway,
  host: string,
  headers: Record<string, string>,
) {
  const tlsOptions = { servername: host, ca: tlsFixture().cert };
  const socket = new WebSocket(`wss://127.0.0.1:${gateway.port}/socket`, {
    headers: { host, ...headers },
    ...tlsOptions,
  });
  t.after(() => socket.terminate());
  const outcome = await Promise.race([
    once(socket, "open").then(() => 101),
    (once(socket, "unexpected-response") as Promise<[ClientRequest, IncomingMessage]>).then(
      ([request, response]) => {
        request.destroy(); // ws leaves a refused handshake's request to this listener
        return response.statusCode ?? 0;
      },
    ),
  ]);
  return outcome;
}

describe("a visitor access policy on a wildcard base domain", () => {
  it("guards a held label and an auto label over HTTP/1.1, HTTP/2 and WebSocket, without a reconnect", async (t) => {
    const { gateway, seen, serve, admin } = await labelSetup(t);
    const demo = await serve("demo.example.test");
    const auto = await serve("auto");
    assert.equal((await visit(gateway.port, demo, "/open")).status, 200, "no policy yet");

    // A label is no registered domain: it takes no policy of its own.
    assert.equal((await admin("PUT", demo, ALICE)).status, 404);
    // Set while both labels are held; the path spells the wildcard URL-encoded.
    const put = await admin("PUT", "%2A.example.test", ALICE);
    assert.equal(put.status, 200, put.text);
    assert.equal(put.json().domain, WILDCARD);
    const read = await admin("GET", "*.example.test");
    assert.deepEqual(read.json().access?.basic_auth, [{ username: "alice" }]);
    seen.length = 0;

    for (const host of [demo, auto]) {
      for (const http2 of [false, true]) {
        const get = (options: VisitOptions = {}) =>
          visit(gateway.port, host, "/private", { http2, ...options });
        const denied = await get();
        assert.equal(denied.status, 401, `${host} over ${http2 ? "HTTP/2" : "HTTP/1.1"}`);
        assert.equal(denied.headers["www-authenticate"], `Basic realm="${host}", charset="UTF-8"`);
        assert.equal((await get({ headers: { authorization: basic("alice", "wrong horse") } })).status, 401);
        const allowed = await get({ headers: { authorization: basic("alice", "correct horse") } });
        assert.equal(allowed.status, 200);
        assert.equal(allowed.body.toString(), "backend");
      }
      assert.equal(await upgradeStatus(t, gateway, host, {}), 401, `the upgrade to ${host}`);
      assert.equal(
        await upgradeStatus(t, gateway, host, { authorization: basic("alice", "correct horse") }),
        101,
      );
    }
    assert.deepEqual(
      seen.filter((line) => !line.startsWith("WS")),
      [`${demo} /private`, `${demo} /private`, `${auto} /private`, `${auto} /private`],
      "only the admitted requests reached the backend",
    );
    assert.deepEqual(
      seen.filter((line) => line.startsWith("WS")),
      [`WS ${demo} /socket`, `WS ${auto} /socket`],
    );

    // Cleared: the held labels are open again at once.
    assert.equal((await admin("DELETE", "*.example.test")).status, 200);
    assert.deepEqual((await admin("GET", "%2a.example.test")).json().access, null);
    for (const host of [demo, auto]) assert.equal((await visit(gateway.port, host, "/")).status, 200);
  });

  it("denies a label by the wildcard's IP deny list, leaves another wildcard's labels alone, and opens again when cleared", async (t) => {
    const { gateway, seen, serve, admin } = await labelSetup(t);
    const otherKey = await gateway.register("*.other.test");
    const demo = await serve("demo.example.test");
    const other = await serve("elsewhere.other.test", otherKey);
    // The test certificate covers *.example.test only: the other wildcard's label is reached with that SNI.
    const visitOther = (options: VisitOptions = {}) =>
      visit(gateway.port, other, "/", { servername: "name.example.test", ...options });

    const put = await admin("PUT", "*.example.test", { deny: ["127.0.0.0/8"] });
    assert.equal(put.status, 200, put.text);
    seen.length = 0;
    for (const http2 of [false, true]) {
      assert.equal((await visit(gateway.port, demo, "/", { http2 })).status, 403);
      const spoofed = { "x-forwarded-for": "10.0.0.1", forwarded: "for=10.0.0.1" };
      assert.equal((await visit(gateway.port, demo, "/", { http2, headers: spoofed })).status, 403);
      assert.equal((await visitOther({ http2 })).status, 200, "a label of another wildcard is unaffected");
    }
    for (const spelling of ["DEMO.Example.TEST", "demo.example.test.", `demo.example.test:${gateway.port}`])
      assert.equal((await visit(gateway.port, spelling, "/")).status, 403, spelling);
    assert.deepEqual(seen, [`${other} /`, `${other} /`]);

    assert.equal((await admin("DELETE", "%2A.example.test")).status, 200);
    assert.equal((await visit(gateway.port, demo, "/")).status, 200, "cleared: the label is open again");
  });

  it("applies the wildcard's policy to a domain registered under it without a policy of its own", async (t) => {
    const { gateway, seen, admin, backend } = await labelSetup(t);
    const backendHost = "app.example.test";
    const appKey = await gateway.register(backendHost);
    await startTestClient(t, gateway, backendHost, appKey, [`web=${backend.url}`]).connected;
    assert.equal((await admin("PUT", "*.example.test", { deny: ["0.0.0.0/0", "::/0"] })).status, 200);
    assert.equal((await visit(gateway.port, backendHost, "/")).status, 403, "fails closed");

    // Its own policy, even an empty one, is the more specific and wins.
    const own = await admin("PUT", backendHost, {});
    assert.equal(own.status, 200, own.text);
    assert.equal((await visit(gateway.port, backendHost, "/own")).status, 200);
    assert.equal((await admin("DELETE", backendHost)).status, 200);
    assert.equal((await visit(gateway.port, backendHost, "/")).status, 403, "the wildcard's again");
    assert.deepEqual(seen, [`${backendHost} /own`]);
  });
});
