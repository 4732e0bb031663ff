import assert from "node:assert/strict";
import { once } from "node:events";
import type { ClientRequest, IncomingHttpHeaders, IncomingMessage } from "node:http";
import { describe, it } from "node:test";
import { MAX_FORWARD_AUTH_SUBREQUESTS } from "../../src/server/access/forward-auth.js";
import { WebSocket } from "ws";
import { startBackend } from "../helpers/backend.js";
import { startGateway, startTestClient, type Gateway } from "../helpers/gateway.js";
import { freePort } from "../helpers/free-port.js";
import { captureLogs } from "../helpers/log-capture.js";
import { sampleValue } from "../helpers/prometheus-text.js";
import { tlsFixture } from "../helpers/tls-fixture.js";
import { until } from "../helpers/poll-until.js";
import { visit } from "../helpers/visit.js";

const ADMIN_KEY = "forward-auth-admin-key-0123456789";
const DOMAIN = "app.example.test";

/** PUTs `{forward_auth}` as DOMAIN's access policy through the admin API; asserts it is stored. */
async function putForwardAuth(gateway: Gateway, policy: { forward_auth: object }): Promise<void> {
  const put = await visit(gateway.port, "gateway.test", `/api/v1/admin/domains/${DOMAIN}/access`, {
    method: "PUT",
    headers: { authorization: `Bearer ${ADMIN_KEY}`, "content-type": "application/json" },
    body: JSON.stringify(policy),
  });
  assert.equal(put.status, 200, put.body.toString());
}

describe("forward auth, end to end", () => {
  it("lets the auth service decide: 2xx admits with copied headers, any other answer reaches the visitor", async (t) => {
    const gateway = await startGateway(t, { adminApiKey: ADMIN_KEY });
    const asked: IncomingHttpHeaders[] = [];
    const auth = await startBackend(t, (req, res) => {
      asked.push(req.headers);
      if (req.headers.cookie === "session=good") {
        res.writeHead(200, { "x-auth-user": "alice", "x-other": "not copied" });
        return res.end();
      }
      res.writeHead(302, { location: "https://auth.example.test/login", "set-cookie": "csrf=1" });
      res.end("go log in");
    });
    const seen: IncomingHttpHeaders[] = [];
    const backend = await startBackend(t, (req, res) => {
      seen.push(req.headers);
      res.end("backend");
    });
    const key = await gateway.register(DOMAIN);
    await startTestClient(t, gateway, DOMAIN, key, [`web=${backend.url}`]).connected;
    await putForwardAuth(gateway, {
      forward_auth: { url: `${auth.url}/verify`, copy_headers: ["X-Auth-User"] },
    });

    for (const http2 of [false, true]) {
      const refused = await visit(gateway.port, DOMAIN, "/private/../x?y=1", {
        http2,
        method: "POST",
        body: "data",
        headers: { "x-forwarded-for": "10.0.0.1", "x-forwarded-uri": "/public" },
      });
      assert.equal(refused.status, 302);
      assert.equal(refused.headers.location, "https://auth.example.test/login");
      assert.deepEqual(refused.headers["set-cookie"], ["csrf=1"]);
      assert.equal(refused.body.toString(), "go log in");
      const allowed = await visit(gateway.port, DOMAIN, "/", {
        http2,
        headers: { cookie: "session=good", "x-auth-user": "root" },
      });
      assert.equal(allowed.status, 200);
      assert.equal(allowed.body.toString(), "backend");
    }
    assert.equal(seen.length, 2, "only the admitted requests reached the backend");
    for (const headers of seen) {
      assert.equal(headers["x-auth-user"], "alice", "the service's value, not the visitor's");
      assert.equal(headers["x-other"], undefined);
    }
    const first = asked[0]!;
    assert.equal(first["x-forwarded-method"], "POST");
    // The normalised path: the auth service decides on the path the backend will get.
    assert.equal(first["x-forwarded-uri"], "/x?y=1");
    assert.equal(first["x-forwarded-host"], DOMAIN);
    assert.equal(first["x-forwarded-proto"], "https");
    assert.equal(first["x-forwarded-for"], "127.0.0.1");
    assert.equal(first["content-length"], undefined, "the subrequest carries no body");

    const ws = new WebSocket(`wss://127.0.0.1:${gateway.port}/socket`, {
      headers: { host: DOMAIN },
      ...{ servername: DOMAIN, ca: tlsFixture().cert },
    });
    const [request, response] = (await once(ws, "unexpected-response")) as [ClientRequest, IncomingMessage];
    request.destroy();
    assert.equal(response.statusCode, 302);
    assert.equal(seen.length, 2, "the refused upgrade did not reach the backend");

    const metrics = await (await fetch(`http://127.0.0.1:${gateway.server.metricsPort}/metrics`)).text();
    assert.equal(sampleValue(metrics, 'hopgate_access_denied_total{reason="forward_auth"}'), 3);
  });

  it("tells the auth service the visitor a trusted front proxy names, then the chain", async (t) => {
    const gateway = await startGateway(t, { adminApiKey: ADMIN_KEY, trustedProxies: "127.0.0.1" });
    const asked: IncomingHttpHeaders[] = [];
    const auth = await startBackend(t, (req, res) => {
      asked.push(req.headers);
      res.writeHead(204);
      res.end();
    });
    const backend = await startBackend(t, (_req, res) => res.end("backend"));
    const key = await gateway.register(DOMAIN);
    await startTestClient(t, gateway, DOMAIN, key, [`web=${backend.url}`]).connected;
    await putForwardAuth(gateway, { forward_auth: { url: `${auth.url}/verify`, copy_headers: [] } });
    const response = await visit(gateway.port, DOMAIN, "/", {
      headers: { "x-forwarded-for": "10.0.0.1, 203.0.113.9" },
    });
    assert.equal(response.status, 200);
    assert.equal(asked[0]?.["x-forwarded-for"], "203.0.113.9, 127.0.0.1");
    assert.equal(asked[0]?.["x-real-ip"], "203.0.113.9");
  });

  it("keeps the subrequests in flight to an auth service bounded under a flood of visitors", async (t) => {
    const gateway = await startGateway(t, { adminApiKey: ADMIN_KEY });
    let held = 0;
    let mostHeld = 0;
    const release = Promise.withResolvers<void>();
    const auth = await startBackend(t, (_req, res) => {
      held += 1;
      mostHeld = Math.max(mostHeld, held);
      void release.promise.then(() => {
        held -= 1;
        res.end();
      });
    });
    const backend = await startBackend(t, (_req, res) => res.end("backend"));
    const key = await gateway.register(DOMAIN);
    await startTestClient(t, gateway, DOMAIN, key, [`web=${backend.url}`]).connected;
    await putForwardAuth(gateway, {
      forward_auth: { url: `${auth.url}/verify`, copy_headers: [], timeout_ms: 60_000 },
    });

    const visitors = MAX_FORWARD_AUTH_SUBREQUESTS * 2;
    const visits = Array.from({ length: visitors }, (_, i) =>
      visit(gateway.port, DOMAIN, `/${i}`, { http2: i % 2 === 0, timeoutMs: 60_000 }),
    );
    await until(
      () => held >= MAX_FORWARD_AUTH_SUBREQUESTS,
      "the auth service to hold the first subrequests",
      30_000,
    );
    // The rest wait for a free subrequest instead of reaching the service.
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(mostHeld, MAX_FORWARD_AUTH_SUBREQUESTS, "never more subrequests in flight than the bound");
    release.resolve();
    const statuses = (await Promise.all(visits)).map((response) => response.status);
    assert.deepEqual(new Set(statuses), new Set([200]), "every visitor is admitted once the service answers");
  });

  it("answers 503 when the auth service cannot be reached or does not answer in time, and logs why with the URL's token masked", async (t) => {
    const logs = captureLogs();
    const gateway = await startGateway(t, { adminApiKey: ADMIN_KEY }, logs.logger);
    let reached = 0;
    const backend = await startBackend(t, (_req, res) => {
      reached += 1;
      res.end("backend");
    });
    const key = await gateway.register(DOMAIN);
    await startTestClient(t, gateway, DOMAIN, key, [`web=${backend.url}`]).connected;
    const closedPort = await freePort();
    const token = "fa-token-3b8e61d2";
    const url = `http://127.0.0.1:${closedPort}/verify?token=${token}`;
    await putForwardAuth(gateway, { forward_auth: { url } });
    const response = await visit(gateway.port, DOMAIN, "/");
    assert.equal(response.status, 503);
    assert.equal(response.headers["retry-after"], "1");
    // A second failure within the interval is counted, not logged: one line per service, not per visitor.
    assert.equal((await visit(gateway.port, DOMAIN, "/")).status, 503);
    const failures = logs.since(0, "forward auth failed");
    assert.equal(failures.length, 1, JSON.stringify(failures));
    assert.equal(failures[0]?.level, "warn");
    assert.equal(failures[0]?.domain, DOMAIN);
    assert.equal(failures[0]?.forward_auth, `http://127.0.0.1:${closedPort}/verify?token=***`);
    assert.match(String(failures[0]?.reason), /ECONNREFUSED/);
    assert.ok(!JSON.stringify(logs.lines).includes(token), "the token is in no log line");

    // An auth service that never answers: 503 after timeout_ms, not a hang and not an admission.
    const silent = await startBackend(t, () => undefined);
    await putForwardAuth(gateway, { forward_auth: { url: `${silent.url}/verify`, timeout_ms: 300 } });
    const startedMs = Date.now();
    const timedOut = await visit(gateway.port, DOMAIN, "/", { http2: true });
    assert.equal(timedOut.status, 503);
    assert.ok(Date.now() - startedMs < 10_000, "answered once the auth service's time was up");
    assert.equal(reached, 0);
    const timeouts = logs.since(0, "forward auth failed").slice(1);
    assert.deepEqual(
      timeouts.map((line) => [line.forward_auth, line.reason]),
      [[`${silent.url}/verify`, "no answer within 300 ms"]],
    );
  });
});
