import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, it, type TestContext } from "node:test";
import { Registry } from "prom-client";
import { createMetricsListener } from "../../src/lib/metrics-listener.js";
import { HTTP_METHOD_LABELS } from "../../src/lib/metric-labels.js";
import { silentLogger } from "../../src/lib/logger.js";
import { HopGateError } from "../../src/lib/hopgate-error.js";
import { createServerMetrics, type ServerMetrics } from "../../src/server/metrics/server-metrics.js";
import { proxyErrorType } from "../../src/server/metrics/proxy-error-type.js";
import { PROXY_ERROR_TYPES } from "../../src/server/metrics/server-events.js";
import { promtoolCheckMetrics, sampleLines, sampleValue } from "../helpers/prometheus-text.js";

const REGISTERED = new Set(["app.example.com", "api.example.com", "*.tunnel.example.com"]);

async function serverWithListener(t: TestContext, onCollectError?: (error: unknown) => void) {
  const registry = new Registry();
  const metrics = createServerMetrics({
    registry,
    isRegisteredDomain: (domain) => REGISTERED.has(domain),
    onCollectError,
  });
  const listener = await createMetricsListener({
    listen: { host: "127.0.0.1", port: 0 },
    registry,
    readiness: () => Promise.resolve({ ready: true, checks: [] }),
    logger: silentLogger(),
  });
  t.after(() => listener.close());
  const scrape = async () => {
    const response = await fetch(`http://127.0.0.1:${listener.port}/metrics`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
    return response.text();
  };
  return { metrics, scrape };
}

/** What a day of a small gateway looks like, compressed: tunnels, requests, errors, certificates. */
function driveRealisticTraffic(metrics: ServerMetrics): void {
  metrics.handshake("ok");
  metrics.tunnelOpened(2);
  metrics.handshake("invalid_key");
  metrics.handshake("unknown_domain");
  metrics.handshake("ok");
  metrics.tunnelOpened(1);
  for (let i = 0; i < 20; i++) {
    metrics.streamOpened();
    metrics.proxyBytes("to_client", 100);
    metrics.proxyBytes("from_client", 2048);
    metrics.requestFinished({ method: "GET", status: 200, domain: "app.example.com", durationMs: 12 + i });
    metrics.streamClosed();
  }
  metrics.streamOpened(); // one long poll still open
  metrics.requestFinished({ method: "POST", status: 502, domain: "api.example.com", durationMs: 3 });
  metrics.proxyError("no_tunnel");
  metrics.requestFinished({ method: "GET", status: 404, domain: "unknown.example.net", durationMs: 0.4 });
  metrics.adminAuthFailure();
  metrics.acmeOrder("issued");
  metrics.tunnelClosed(1);
}

describe("ServerMetrics", () => {
  it("exposes moving counters on the metrics listener in a scrape that promtool accepts", async (t) => {
    const { metrics, scrape } = await serverWithListener(t);
    const notAfterMs = Date.parse("2031-01-02T03:04:05Z");
    metrics.setCertificateExpirySource(() => [{ domain: "app.example.com", notAfterMs }]);
    driveRealisticTraffic(metrics);
    const first = await scrape();

    const check = await promtoolCheckMetrics(first);
    assert.equal(check.code, 0, check.output);

    const expected: Array<[string, number]> = [
      ['hopgate_http_requests_total{method="GET",status="200",domain="app.example.com"}', 20],
      ['hopgate_http_requests_total{method="POST",status="502",domain="api.example.com"}', 1],
      ['hopgate_http_requests_total{method="GET",status="404",domain="_other"}', 1],
      ['hopgate_http_request_duration_seconds_count{method="GET",domain="app.example.com"}', 20],
      ['hopgate_http_request_duration_seconds_bucket{le="0.025",method="GET",domain="app.example.com"}', 14],
      ['hopgate_proxy_errors_total{type="no_tunnel"}', 1],
      ['hopgate_proxy_errors_total{type="timeout"}', 0],
      ['hopgate_tunnel_handshakes_total{result="ok"}', 2],
      ['hopgate_tunnel_handshakes_total{result="invalid_key"}', 1],
      ['hopgate_auth_failures_total{kind="tunnel"}', 2],
      ['hopgate_auth_failures_total{kind="admin"}', 1],
      ['hopgate_tunnels_active{protocol="1"}', 0],
      ['hopgate_tunnels_active{protocol="2"}', 1],
      ["hopgate_streams_in_flight", 1],
      ['hopgate_proxy_bytes_total{direction="to_client"}', 2000],
      ['hopgate_proxy_bytes_total{direction="from_client"}', 40960],
      ['hopgate_acme_orders_total{result="issued"}', 1],
      ['hopgate_certificate_expiry_timestamp_seconds{domain="app.example.com"}', notAfterMs / 1000],
    ];
    for (const [series, value] of expected) assert.equal(sampleValue(first, series), value, series);
    assert.ok(sampleValue(first, "process_resident_memory_bytes")! > 0, "Node process metrics are present");

    metrics.requestFinished({ method: "GET", status: 200, domain: "app.example.com", durationMs: 5 });
    metrics.proxyBytes("to_client", 1);
    const second = await scrape();
    const counter = 'hopgate_http_requests_total{method="GET",status="200",domain="app.example.com"}';
    assert.equal(sampleValue(second, counter), 21);
    assert.equal(sampleValue(second, 'hopgate_proxy_bytes_total{direction="to_client"}'), 2001);
  });

  it("keeps the number of series bounded under a flood of random hosts, methods and statuses", async (t) => {
    const { metrics, scrape } = await serverWithListener(t);
    const statuses = [200, 204, 301, 404, 500, 502, 504, 999, -1, 12345];
    const flood = (count: number) => {
      for (let i = 0; i < count; i++) {
        const registered = i % 3 === 0;
        metrics.requestFinished({
          method:
            i % 2 === 0 ? HTTP_METHOD_LABELS[i % HTTP_METHOD_LABELS.length]! : randomBytes(4).toString("hex"),
          status: statuses[i % statuses.length]!,
          domain: registered ? "app.example.com" : `${randomBytes(6).toString("hex")}.example.org`,
          durationMs: i % 100,
        });
      }
    };
    flood(2_000);
    const afterSome = sampleLines(await scrape()).filter((line) => line.startsWith("hopgate_")).length;
    flood(20_000);
    const scraped = await scrape();
    const afterMany = sampleLines(scraped).filter((line) => line.startsWith("hopgate_")).length;
    assert.equal(afterMany, afterSome, "20,000 more random requests add no series");

    const requestSeries = sampleLines(scraped).filter((line) =>
      line.startsWith("hopgate_http_requests_total"),
    );
    // 10 method labels (9 + _other) x 8 status labels (7 + _other) x 2 domain labels at most.
    assert.ok(requestSeries.length <= 10 * 8 * 2, `${requestSeries.length} request series`);
    const domains = new Set(requestSeries.map((line) => /domain="([^"]*)"/.exec(line)?.[1]));
    assert.deepEqual([...domains].sort(), ["_other", "app.example.com"]);
    assert.ok(requestSeries.some((line) => line.includes('method="_other",status="_other"')));
  });

  it("counts self-service labels under their wildcard, one series however many labels", async (t) => {
    const { metrics, scrape } = await serverWithListener(t);
    for (let i = 0; i < 50; i++) {
      const label = randomBytes(8).toString("hex");
      metrics.requestFinished({
        method: "GET",
        status: 200,
        domain: `${label}.tunnel.example.com`,
        durationMs: 1,
      });
    }
    metrics.requestFinished({ method: "GET", status: 404, domain: "a.b.tunnel.example.com", durationMs: 1 });
    const scraped = await scrape();
    const wildcard = 'hopgate_http_requests_total{method="GET",status="200",domain="*.tunnel.example.com"}';
    assert.equal(sampleValue(scraped, wildcard), 50);
    assert.equal(
      sampleValue(scraped, 'hopgate_http_requests_total{method="GET",status="404",domain="_other"}'),
      1,
      "two labels deep is no label of the wildcard",
    );
  });

  it("forgets an unregistered domain's request series", async (t) => {
    const { metrics, scrape } = await serverWithListener(t);
    metrics.requestFinished({ method: "GET", status: 200, domain: "api.example.com", durationMs: 1 });
    metrics.requestFinished({ method: "GET", status: 200, domain: "app.example.com", durationMs: 1 });
    metrics.forgetDomain("api.example.com");
    const scraped = await scrape();
    assert.ok(!scraped.includes('domain="api.example.com"'));
    assert.ok(scraped.includes('domain="app.example.com"'));
  });

  it("ignores durations that are not numbers instead of throwing on the hot path", async (t) => {
    const { metrics, scrape } = await serverWithListener(t);
    metrics.requestFinished({
      method: "GET",
      status: 200,
      domain: "app.example.com",
      durationMs: Number.NaN,
    });
    metrics.requestFinished({ method: "GET", status: 200, domain: "app.example.com", durationMs: -5 });
    metrics.proxyBytes("to_client", Number.NaN);
    metrics.proxyBytes("to_client", -10);
    const scraped = await scrape();
    assert.equal(
      sampleValue(scraped, 'hopgate_http_requests_total{method="GET",status="200",domain="app.example.com"}'),
      2,
    );
    assert.equal(
      sampleValue(
        scraped,
        'hopgate_http_request_duration_seconds_count{method="GET",domain="app.example.com"}',
      ),
      1,
    );
    assert.equal(sampleValue(scraped, 'hopgate_proxy_bytes_total{direction="to_client"}'), 0);
  });

  it("keeps scraping when the certificate source fails, and reports the failure", async (t) => {
    const errors: unknown[] = [];
    const { metrics, scrape } = await serverWithListener(t, (error) => errors.push(error));
    let fail = false;
    metrics.setCertificateExpirySource(async () => {
      await Promise.resolve();
      if (fail) throw new Error("store unreachable");
      return [{ domain: "app.example.com", notAfterMs: 2_000_000_000_000 }];
    });
    const series = 'hopgate_certificate_expiry_timestamp_seconds{domain="app.example.com"}';
    assert.equal(sampleValue(await scrape(), series), 2_000_000_000);
    fail = true;
    assert.equal(sampleValue(await scrape(), series), 2_000_000_000, "last known value kept");
    assert.equal(errors.length, 1);
    assert.match(String(errors[0]), /store unreachable/);
  });
});

describe("proxyErrorType", () => {
  const cases: Array<[unknown, string | undefined]> = [
    [new HopGateError("tunnel_unavailable", "no client"), "no_tunnel"],
    [new HopGateError("tunnel_closed", "dropped"), "tunnel_closed"],
    [new HopGateError("backend_failed", "refused"), "backend"],
    [new HopGateError("timeout", "slow"), "timeout"],
    [new HopGateError("protocol_violation", "bad frame"), "protocol"],
    [new HopGateError("payload_too_large", "big"), "too_large"],
    [new HopGateError("rate_limited", "busy"), "rate_limited"],
    [new HopGateError("internal", "bug"), "other"],
    [new HopGateError("not_found", "unknown host"), undefined],
    [new Error("plain"), "other"],
    ["a string", "other"],
  ];
  for (const [error, type] of cases) {
    it(`maps ${error instanceof HopGateError ? error.code : String(error)} to ${type ?? "no error"}`, () => {
      assert.equal(proxyErrorType(error), type);
      if (type !== undefined) assert.ok((PROXY_ERROR_TYPES as readonly string[]).includes(type));
    });
  }
});
