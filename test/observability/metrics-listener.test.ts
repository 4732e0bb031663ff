import assert from "node:assert/strict";
import { Agent, request } from "node:http";
import { describe, it, type TestContext } from "node:test";
import { Registry } from "prom-client";
import { createClientMetrics } from "../../src/client/metrics/client-metrics.js";
import { createMetricsListener } from "../../src/lib/metrics-listener.js";
import { silentLogger } from "../../src/lib/logger.js";
import { createReadinessProbe, type ReadinessCheck } from "../../src/lib/readiness.js";
import { promtoolCheckMetrics, sampleValue } from "../helpers/prometheus-text.js";

async function listenerWith(t: TestContext, checks: ReadinessCheck[], registry = new Registry()) {
  const listener = await createMetricsListener({
    listen: { host: "127.0.0.1", port: 0 },
    registry,
    readiness: createReadinessProbe({ checks, checkTimeoutMs: 300 }),
    logger: silentLogger(),
  });
  t.after(() => listener.close());
  return { listener, url: (path: string) => `http://127.0.0.1:${listener.port}${path}` };
}

describe("metrics listener", () => {
  it("answers /healthz, and /readyz with 200 when every check passes", async (t) => {
    const { url } = await listenerWith(t, [
      { name: "store", check: () => Promise.resolve() },
      { name: "https_listener", check: () => undefined },
    ]);
    const health = await fetch(url("/healthz"));
    assert.equal(health.status, 200);
    assert.equal(await health.text(), "ok\n");
    const ready = await fetch(url("/readyz"));
    assert.equal(ready.status, 200);
    assert.deepEqual(await ready.json(), {
      status: "ready",
      checks: [
        { name: "store", ok: true },
        { name: "https_listener", ok: true },
      ],
    });
  });

  it("answers /readyz with 503 naming the failing and the hung checks", async (t) => {
    const { url } = await listenerWith(t, [
      { name: "store", check: () => Promise.reject(new Error("connect ECONNREFUSED 127.0.0.1:5432")) },
      { name: "https_listener", check: () => undefined },
      { name: "acme", check: () => new Promise<void>(() => undefined) },
    ]);
    const response = await fetch(url("/readyz"));
    assert.equal(response.status, 503);
    const body = (await response.json()) as { status: string; failing: string[]; checks: unknown[] };
    assert.equal(body.status, "not_ready");
    assert.deepEqual(body.failing, ["store", "acme"]);
    assert.deepEqual(body.checks[0], {
      name: "store",
      ok: false,
      error: "connect ECONNREFUSED 127.0.0.1:5432",
    });
    assert.deepEqual(body.checks[2], { name: "acme", ok: false, error: "no answer within 300 ms" });
  });

  const refusals: Array<[string, string, number]> = [
    ["GET", "/", 404],
    ["GET", "/metrics/extra", 404],
    ["GET", "/api/v1/admin/domains", 404],
    ["POST", "/metrics", 405],
    ["DELETE", "/readyz", 405],
  ];
  for (const [method, path, status] of refusals) {
    it(`answers ${method} ${path} with ${status}`, async (t) => {
      const { url } = await listenerWith(t, []);
      const response = await fetch(url(path), { method });
      assert.equal(response.status, status);
      if (status === 405) assert.equal(response.headers.get("allow"), "GET, HEAD");
      await response.text();
    });
  }

  it("answers HEAD with headers only, and ignores a query string", async (t) => {
    const { url } = await listenerWith(t, []);
    const head = await fetch(url("/metrics"), { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.ok(Number(head.headers.get("content-length")) >= 0);
    assert.equal(await head.text(), "");
    assert.equal((await fetch(url("/healthz?probe=1"))).status, 200);
  });

  it("closes promptly while a scraper holds a keep-alive connection", async (t) => {
    const { listener } = await listenerWith(t, []);
    const agent = new Agent({ keepAlive: true });
    t.after(() => agent.destroy());
    await new Promise<void>((resolve, reject) => {
      const agentRequest = request(
        { host: "127.0.0.1", port: listener.port, path: "/healthz", agent },
        (response) => {
          response.resume();
          response.on("end", resolve);
        },
      );
      agentRequest.on("error", reject);
      agentRequest.end();
    });
    assert.equal(Object.values(agent.freeSockets).flat().length, 1, "an idle keep-alive socket is open");
    const started = Date.now();
    await listener.close();
    assert.ok(Date.now() - started < 5_000, "close did not wait for the idle keep-alive connection");
    await assert.rejects(fetch(`http://127.0.0.1:${listener.port}/healthz`));
  });

  it("serves the client's metrics: moving counters, promtool-clean, bounded service label", async (t) => {
    const registry = new Registry();
    const metrics = createClientMetrics({ registry, serviceNames: ["web", "api"] });
    const { url } = await listenerWith(t, [], registry);
    metrics.reconnectScheduled("connect_failed");
    metrics.tunnelConnected();
    for (let i = 0; i < 5; i++) {
      metrics.requestFinished({ service: "web", status: 200, durationMs: 7 });
      metrics.tunnelBytes("from_server", 10);
      metrics.tunnelBytes("to_server", 1000);
    }
    metrics.requestFinished({ service: "api", status: 502, durationMs: 1 });
    metrics.requestFinished({ service: "evil-injected-name", status: 200, durationMs: 1 });
    const scrape = await (await fetch(url("/metrics"))).text();
    const check = await promtoolCheckMetrics(scrape);
    assert.equal(check.code, 0, check.output);
    const expected: Array<[string, number]> = [
      ['hopgate_client_requests_total{service="web",status="200"}', 5],
      ['hopgate_client_requests_total{service="api",status="502"}', 1],
      ['hopgate_client_requests_total{service="_other",status="200"}', 1],
      ['hopgate_client_request_duration_seconds_count{service="web"}', 5],
      ["hopgate_client_tunnel_connected", 1],
      ['hopgate_client_reconnects_total{reason="connect_failed"}', 1],
      ['hopgate_client_reconnects_total{reason="ping_timeout"}', 0],
      ['hopgate_client_bytes_total{direction="from_server"}', 50],
      ['hopgate_client_bytes_total{direction="to_server"}', 5000],
    ];
    for (const [series, value] of expected) assert.equal(sampleValue(scrape, series), value, series);
    assert.ok(!scrape.includes("evil-injected-name"));
    metrics.tunnelDisconnected();
    const after = await (await fetch(url("/metrics"))).text();
    assert.equal(sampleValue(after, "hopgate_client_tunnel_connected"), 0);
  });

  it("fails to start with a clear error when the port is taken", async (t) => {
    const { listener } = await listenerWith(t, []);
    await assert.rejects(
      createMetricsListener({
        listen: { host: "127.0.0.1", port: listener.port },
        registry: new Registry(),
        readiness: createReadinessProbe({ checks: [] }),
        logger: silentLogger(),
      }),
      /EADDRINUSE/,
    );
  });
});
