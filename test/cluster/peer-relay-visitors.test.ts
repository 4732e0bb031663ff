import assert from "node:assert/strict";
import { once } from "node:events";
import type { ClientRequest, IncomingMessage } from "node:http";
import { describe, it, type TestContext } from "node:test";
import fc from "fast-check";
import { WebSocket, WebSocketServer } from "ws";
import { echoed, echoHandler, startBackend, type Echo } from "../helpers/backend.js";
import { spelled } from "../helpers/hostile-headers.js";
import { pollUntil } from "../helpers/poll-until.js";
import { pgSkip } from "../helpers/postgres.js";
import { MAIN_DOMAIN } from "../helpers/server-process.js";
import { tlsFixture } from "../helpers/tls-fixture.js";
import { visit } from "../helpers/visit.js";
import { within } from "../helpers/within.js";
import { startRelayPair, type PeerServer } from "./peer-cluster.js";

const DOMAIN = "visitors.example.test";
const basic = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;

/** Servers A (holding the only tunnel of DOMAIN) and B (relaying to A), with an echo and WebSocket backend. */
async function twoServers(t: TestContext, env: Record<string, string> = {}) {
  const { a, b, backend } = await startRelayPair(t, DOMAIN, echoHandler, env);
  const wss = new WebSocketServer({ server: backend.server });
  wss.on("connection", (socket) =>
    socket.on("message", (data: Buffer) => socket.send(`echo:${data.toString()}`)),
  );
  t.after(() => wss.close());
  return { a, b, wss };
}

function openWebSocket(
  server: PeerServer,
  headers: Record<string, string> = {},
  path = "/socket",
): WebSocket {
  const tlsOptions = { servername: DOMAIN, ca: tlsFixture().cert };
  return new WebSocket(`wss://127.0.0.1:${server.httpsPort}${path}`, {
    headers: { host: DOMAIN, ...headers },
    ...tlsOptions,
  });
}

async function putAccess(server: PeerServer, policy: unknown): Promise<void> {
  const answer = await visit(server.httpsPort, MAIN_DOMAIN, `/api/v1/admin/domains/${DOMAIN}/access`, {
    method: "PUT",
    headers: { authorization: `Bearer ${server.adminApiKey}`, "content-type": "application/json" },
    body: JSON.stringify(policy),
  });
  assert.equal(answer.status, 200, answer.body.toString());
}

describe("relayed visitors (docs/scale-out.md, docs/security.md)", { skip: pgSkip() }, () => {
  it("a visitor's X-HopGate-Peer-* fields, in any spelling, over h1 or h2, direct or relayed, never reach the backend nor change the visitor's address", async (t) => {
    const { a, b } = await twoServers(t);
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom("x-hopgate-peer-for", "x-hopgate-peer-id", "x-hopgate-peer").chain(spelled),
        fc.ipV4(),
        fc.boolean(),
        fc.boolean(),
        async (name, forged, relayed, http2) => {
          const server = relayed ? b : a;
          const answer = await visit(server.httpsPort, DOMAIN, "/h", {
            http2,
            headers: { [name]: forged, "x-forwarded-for": forged },
          });
          assert.equal(answer.status, 200);
          const echo = JSON.parse(answer.body.toString()) as Echo;
          assert.deepEqual(echoed(echo, "x-forwarded-for"), ["127.0.0.1"]);
          assert.deepEqual(echoed(echo, "x-real-ip"), ["127.0.0.1"]);
          const hopgate = echo.rawHeaders.filter(
            (_, i) => i % 2 === 0 && /^x-hopgate-/i.test(echo.rawHeaders[i]!),
          );
          assert.deepEqual(hopgate, []);
        },
      ),
      { numRuns: 24 },
    );
  });

  it("behind a trusted front proxy, a visitor it names no address for stays unknown across the relay: served without a policy, refused by an allow list holding the proxy", async (t) => {
    const { a, b } = await twoServers(t, { HOP_SERVER_TRUSTED_PROXIES: "127.0.0.1" });
    for (const http2 of [false, true]) {
      for (const server of [a, b]) {
        const answer = await visit(server.httpsPort, DOMAIN, "/h", {
          http2,
          headers: { "x-forwarded-for": "198.51.100.7, _hidden" },
        });
        assert.equal(answer.status, 200, `${server === b ? "relayed" : "direct"}: ${answer.body.toString()}`);
        const echo = JSON.parse(answer.body.toString()) as Echo;
        assert.deepEqual(echoed(echo, "x-forwarded-for"), ["unknown, 127.0.0.1"]);
        assert.deepEqual(echoed(echo, "x-real-ip"), ["unknown"]);
      }
    }
    await putAccess(b, { allow: ["127.0.0.1", "198.51.100.0/24"] });
    await putAccess(a, { allow: ["127.0.0.1", "198.51.100.0/24"] });
    for (const http2 of [false, true]) {
      for (const server of [a, b]) {
        const headers = { "x-forwarded-for": "198.51.100.7, _hidden" };
        assert.equal((await visit(server.httpsPort, DOMAIN, "/h", { http2, headers })).status, 403);
        const named = { "x-forwarded-for": "198.51.100.7" };
        assert.equal((await visit(server.httpsPort, DOMAIN, "/h", { http2, headers: named })).status, 200);
      }
    }
  });

  it("the access policy holds for relayed requests and upgrades: IP rules see the visitor, not a forged peer field; basic auth asks", async (t) => {
    const { b, wss } = await twoServers(t);
    // Written through B: B applies it at once (another server's copy refreshes within 30 s).
    await putAccess(b, { allow: ["10.1.2.0/24"] });
    for (const http2 of [false, true]) {
      const answer = await visit(b.httpsPort, DOMAIN, "/", {
        http2,
        headers: { "X-HopGate-Peer-For": "10.1.2.3", "x-forwarded-for": "10.1.2.3" },
      });
      assert.equal(answer.status, 403, "a forged address does not pass an IP allow list");
    }
    await putAccess(b, { basic_auth: [{ username: "alice", password: "correct horse" }] });
    for (const http2 of [false, true]) {
      assert.equal((await visit(b.httpsPort, DOMAIN, "/", { http2 })).status, 401);
      const allowed = await visit(b.httpsPort, DOMAIN, "/", {
        http2,
        headers: { authorization: basic("alice", "correct horse") },
      });
      assert.equal(allowed.status, 200);
    }
    const refused = openWebSocket(b);
    const [request, response] = (await within(once(refused, "unexpected-response"), "refused upgrade")) as [
      ClientRequest,
      IncomingMessage,
    ];
    request.destroy();
    assert.equal(response.statusCode, 401);
    const accepted = openWebSocket(b, { authorization: basic("alice", "correct horse") });
    t.after(() => accepted.terminate());
    await within(once(accepted, "open"), "the upgrade");
    accepted.send("through the relay");
    const [message] = (await within(once(accepted, "message"), "the echo")) as [Buffer];
    assert.equal(message.toString(), "echo:through the relay");
    // The visitor leaving ends the backend's WebSocket too, across the relay.
    assert.equal(wss.clients.size, 1);
    accepted.terminate();
    await pollUntil(
      () => wss.clients.size === 0,
      10_000,
      () => "the backend's WebSocket outlived the visitor's",
    );
  });

  it("with forward auth letting path forms through, the auth service asked by the relaying server is told the path the backend behind the other server receives; other forms are refused", async (t) => {
    const { b, wss } = await twoServers(t);
    const told: string[] = [];
    const auth = await startBackend(t, (req, res) => {
      told.push(String(req.headers["x-forwarded-uri"]));
      res.writeHead(204);
      res.end();
    });
    const upgraded: string[] = [];
    wss.on("connection", (_socket, req) => upgraded.push(req.url ?? ""));
    await putAccess(b, {
      forward_auth: { url: `${auth.url}/verify`, allow_ambiguous_paths: ["encoded_slash", "semicolon"] },
    });
    const allowed = ["/api/v4/projects/group%2Fproject?ref=a%2Fb", "/app;jsessionid=1/page;v=2%2Fx"] as const;
    for (const path of allowed)
      for (const http2 of [false, true]) {
        const before = told.length;
        const answer = await visit(b.httpsPort, DOMAIN, path, { http2, timeoutMs: 10_000 });
        assert.equal(answer.status, 200, `${path}: ${answer.body.toString()}`);
        const received = (JSON.parse(answer.body.toString()) as Echo).url;
        assert.deepEqual([told.slice(before), received], [[path], path], path);
      }
    const socket = openWebSocket(b, {}, allowed[1]);
    t.after(() => socket.terminate());
    await within(once(socket, "open"), "the upgrade");
    assert.deepEqual([told.at(-1), upgraded], [allowed[1], [allowed[1]]]);
    // Closed here: the backend's server cannot close while the relayed WebSocket lives.
    socket.terminate();
    await pollUntil(
      () => wss.clients.size === 0,
      10_000,
      () => "the backend's WebSocket outlived the visitor's",
    );
    for (const path of ["/a%5Cb", "/a%252Fb", "/a%2Fb%255C;x"]) {
      const before = told.length;
      assert.equal((await visit(b.httpsPort, DOMAIN, path, { timeoutMs: 10_000 })).status, 400, path);
      assert.equal(told.length, before, path);
    }
  });
});
