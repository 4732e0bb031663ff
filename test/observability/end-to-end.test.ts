import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import { createLogging } from "../../src/lib/logging.js";
import { echoed, echoHandler, startBackend, type Echo } from "../helpers/backend.js";
import { startGateway, startTestClient } from "../helpers/gateway.js";
import { startLokiReceiver } from "../helpers/loki-receiver.js";
import { promtoolCheckMetrics, sampleValue } from "../helpers/prometheus-text.js";
import { waitUntil } from "../helpers/prometheus-server.js";
import { visit } from "../helpers/visit.js";

const ADMIN_KEY = `admin-${randomBytes(16).toString("hex")}`;
const ACCESS_FIELDS = [
  "request_id",
  "domain",
  "method",
  "path",
  "status",
  "duration_ms",
  "bytes_in",
  "bytes_out",
  "remote_addr",
  "session_id",
];

/** A logging pipeline whose lines the test keeps (and pushes to `lokiUrl` when given). */
function capture(service: string, lokiUrl?: string) {
  const lines: string[] = [];
  const logging = createLogging({
    level: "debug",
    base: { service },
    destination: { write: (line) => void lines.push(line) },
    loki: lokiUrl
      ? { endpoint: lokiUrl, labels: { service, app: "hopgate" }, batchIntervalMs: 50 }
      : undefined,
  });
  return { lines, logging };
}

describe("observability end to end", () => {
  it("logs one JSON access line per request, moves the counters and keeps keys out of every line", async (t) => {
    const loki = await startLokiReceiver(t);
    const server = capture("hopgate-server", loki.url);
    const client = capture("hopgate-client");
    t.after(() => server.logging.close(1000));
    const gateway = await startGateway(t, { adminApiKey: ADMIN_KEY }, server.logging.logger);
    const backend = await startBackend(t, echoHandler);
    const key = await gateway.register("app.example.test");
    const tunnel = startTestClient(
      t,
      gateway,
      "app.example.test",
      key,
      [`web=${backend.url}`],
      {},
      client.logging.logger,
    );
    await tunnel.connected;
    const wrongKey = "w".repeat(64);
    startTestClient(
      t,
      gateway,
      "app.example.test",
      wrongKey,
      [`web=${backend.url}`],
      {},
      client.logging.logger,
    );

    const metricsUrl = `http://127.0.0.1:${gateway.server.metricsPort}`;
    const scrape = async () => (await fetch(`${metricsUrl}/metrics`)).text();
    const requestsOk = 'hopgate_http_requests_total{method="GET",status="200",domain="app.example.test"}';
    const before = sampleValue(await scrape(), requestsOk) ?? 0;

    let responseBytes = 0;
    for (let i = 0; i < 5; i++) {
      const response = await visit(gateway.port, "app.example.test", `/page/${i}?token=secret-query-${i}`);
      assert.equal(response.status, 200);
      responseBytes += response.body.length;
    }
    const body = Buffer.alloc(10_000, 1);
    for (let i = 0; i < 3; i++) {
      const response = await visit(gateway.port, "app.example.test", "/upload", {
        method: "POST",
        body,
        http2: true,
      });
      assert.equal((JSON.parse(response.body.toString()) as Echo).bodyLength, body.length);
      responseBytes += response.body.length;
    }
    const traced = await visit(gateway.port, "app.example.test", "/traced", {
      headers: { "x-request-id": "trace-0123456789abcdef" },
    });
    // At the edge (default) the visitor's id is replaced by ours, at the backend and in the log.
    const tracedIds = echoed(JSON.parse(traced.body.toString()) as Echo, "x-request-id");
    assert.equal(tracedIds.length, 1);
    assert.match(tracedIds[0]!, /^[A-Za-z0-9_-]{16}$/);
    assert.notEqual(tracedIds[0], "trace-0123456789abcdef");
    responseBytes += traced.body.length;
    assert.equal((await visit(gateway.port, "unknown.example.test", "/")).status, 404);
    const adminPath = "/api/v1/admin/domains/exists?domain=app.example.test";
    const wrongAdmin = await visit(gateway.port, "gateway.test", adminPath, {
      headers: { authorization: `Bearer ${ADMIN_KEY}-wrong` },
    });
    assert.equal(wrongAdmin.status, 401);
    const admin = await visit(gateway.port, "gateway.test", adminPath, {
      headers: { authorization: `Bearer ${ADMIN_KEY}` },
    });
    assert.equal(admin.status, 200, admin.body.toString());
    await waitUntil(
      async () =>
        (sampleValue(await scrape(), 'hopgate_tunnel_handshakes_total{result="invalid_key"}') ?? 0) >= 1,
      30_000,
      () => "the rejected handshake was never counted",
    );

    const scraped = await scrape();
    const check = await promtoolCheckMetrics(scraped);
    assert.equal(check.code, 0, check.output);
    const expected: Array<[string, number]> = [
      [requestsOk, before + 6],
      ['hopgate_http_requests_total{method="POST",status="200",domain="app.example.test"}', 3],
      ['hopgate_http_requests_total{method="GET",status="404",domain="_other"}', 1],
      ['hopgate_http_request_duration_seconds_count{method="POST",domain="app.example.test"}', 3],
      ['hopgate_proxy_bytes_total{direction="to_client"}', 30_000],
      ['hopgate_tunnels_active{protocol="2"}', 1],
      ['hopgate_auth_failures_total{kind="tunnel"}', 1],
      ["hopgate_streams_in_flight", 0],
    ];
    for (const [series, value] of expected) assert.equal(sampleValue(scraped, series), value, series);
    assert.equal(sampleValue(scraped, 'hopgate_proxy_bytes_total{direction="from_client"}'), responseBytes);
    assert.ok(sampleValue(scraped, 'hopgate_tunnel_handshakes_total{result="ok"}')! >= 1);
    const ready = await fetch(`${metricsUrl}/readyz`);
    assert.equal(ready.status, 200);
    assert.deepEqual(((await ready.json()) as { checks: unknown[] }).checks, [
      { name: "store", ok: true },
      { name: "https_listener", ok: true },
    ]);

    await loki.waitForLines(10);
    const lines = [...server.lines, ...client.lines];
    assert.ok(lines.length > 15, `${lines.length} log lines`);
    const entries = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    for (const entry of entries) {
      for (const field of ["ts", "level", "msg", "component"]) {
        assert.ok(entry[field] !== undefined, `${field} missing in ${JSON.stringify(entry)}`);
      }
    }
    for (const line of lines) {
      for (const secret of [key, wrongKey, ADMIN_KEY])
        assert.ok(!line.includes(secret), `a key leaked: ${line}`);
    }
    const access = entries.filter((entry) => entry.component === "access");
    assert.equal(access.length, 10, "one access line per request");
    for (const entry of access) {
      for (const field of ACCESS_FIELDS)
        assert.ok(field in entry, `${field} missing in ${JSON.stringify(entry)}`);
    }
    assert.ok(!access.some((entry) => String(entry.path).includes("secret-query")), "queries stay out");
    const tracedLine = access.find((entry) => entry.path === "/traced");
    assert.equal(tracedLine?.request_id, tracedIds[0]);
    assert.equal(typeof tracedLine?.session_id, "string");
    const notFound = access.find((entry) => entry.domain === "unknown.example.test");
    assert.equal(notFound?.status, 404);
    assert.equal(notFound?.session_id, null);
    const pushed = loki.lines().filter((entry) => entry.component === "access");
    assert.ok(
      pushed.length > 0 &&
        loki.pushes.every((p) => p.streams.every((s) => s.stream.service === "hopgate-server")),
    );
  });
  it("keeps a valid upstream X-Request-ID only with HOP_SERVER_TRUST_REQUEST_ID", async (t) => {
    const backend = await startBackend(t, echoHandler);
    for (const trusted of [false, true]) {
      const gateway = await startGateway(t, { trustRequestId: String(trusted) });
      const key = await gateway.register("app.example.test");
      await startTestClient(t, gateway, "app.example.test", key, [`web=${backend.url}`]).connected;
      for (const http2 of [false, true]) {
        const response = await visit(gateway.port, "app.example.test", "/traced", {
          headers: { "x-request-id": "trace-0123456789abcdef" },
          http2,
        });
        assert.equal(response.status, 200);
        const ids = echoed(JSON.parse(response.body.toString()) as Echo, "x-request-id");
        assert.equal(ids.length, 1, `trusted=${trusted} http2=${http2}: ${ids.join(", ")}`);
        if (trusted) assert.equal(ids[0], "trace-0123456789abcdef");
        else assert.match(ids[0]!, /^(?!trace-)[A-Za-z0-9_-]{16}$/);
      }
    }
  });
});
