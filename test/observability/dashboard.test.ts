import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Registry } from "prom-client";
import { createClientMetrics } from "../../src/client/metrics/client-metrics.js";
import { createServerMetrics } from "../../src/server/metrics/server-metrics.js";
import { allPanels, promqlMetricNames, readDashboard, readDeployYaml } from "../helpers/deploy-files.js";
import { metricFamilies } from "../helpers/prometheus-text.js";

/** A scrape of the server's and the client's registries after a little realistic traffic. */
async function realScrapes(): Promise<string> {
  const serverRegistry = new Registry();
  const server = createServerMetrics({
    registry: serverRegistry,
    isRegisteredDomain: (d) => d === "app.example.com",
  });
  server.handshake("ok");
  server.tunnelOpened(2);
  server.streamOpened();
  server.proxyBytes("to_client", 10);
  server.requestFinished({ method: "GET", status: 200, domain: "app.example.com", durationMs: 20 });
  server.streamClosed();
  server.setCertificateExpirySource(() => [
    { domain: "app.example.com", notAfterMs: Date.now() + 60 * 86_400_000 },
  ]);
  const clientRegistry = new Registry();
  const client = createClientMetrics({ registry: clientRegistry, serviceNames: ["web"] });
  client.tunnelConnected();
  client.requestFinished({ service: "web", status: 200, durationMs: 5 });
  return `${await serverRegistry.metrics()}\n${await clientRegistry.metrics()}`;
}

/** Series names a scrape offers: each family, and for histograms their _bucket, _sum and _count. */
function seriesNames(scrape: string): Set<string> {
  const names = new Set(metricFamilies(scrape));
  for (const match of scrape.matchAll(/^# TYPE (\S+) (histogram|summary)$/gm)) {
    for (const suffix of ["_bucket", "_sum", "_count"]) names.add(`${match[1]}${suffix}`);
  }
  return names;
}

describe("Grafana dashboard", () => {
  it("extracts metric names from PromQL the way the dashboard writes it", () => {
    const cases: Array<[string, string[]]> = [
      [
        'sum by (status) (rate(hopgate_http_requests_total{domain=~"$domain"}[$__rate_interval]))',
        ["hopgate_http_requests_total"],
      ],
      [
        "histogram_quantile(0.95, sum by (le) (rate(hopgate_http_request_duration_seconds_bucket[5m])))",
        ["hopgate_http_request_duration_seconds_bucket"],
      ],
      [
        "min((hopgate_certificate_expiry_timestamp_seconds - time()) / 86400)",
        ["hopgate_certificate_expiry_timestamp_seconds"],
      ],
      ['a_total{x="rate(b)"} / on (instance) group_left c_total offset 5m', ["a_total", "c_total"]],
    ];
    for (const [expr, names] of cases) assert.deepEqual(promqlMetricNames(expr), names, expr);
  });

  it("queries only metrics that exist in a real scrape", async () => {
    const available = seriesNames(await realScrapes());
    const dashboard = readDashboard();
    const queried = new Set<string>();
    for (const panel of allPanels(dashboard)) {
      for (const target of panel.targets ?? []) {
        const type = target.datasource?.type ?? panel.datasource?.type;
        if (type !== "prometheus" || !target.expr) continue;
        for (const name of promqlMetricNames(target.expr)) queried.add(name);
      }
    }
    for (const variable of dashboard.templating.list) {
      const query = (variable.query as { query?: string } | undefined)?.query;
      if (variable.type === "query" && query) queried.add(/label_values\((\w+)/.exec(query)![1]!);
    }
    assert.ok(queried.size >= 15, `the dashboard queries ${queried.size} metrics`);
    const missing = [...queried].filter((name) => !available.has(name));
    assert.deepEqual(missing, [], "every queried metric is in the scrape");
    for (const required of [
      "hopgate_http_requests_total",
      "hopgate_http_request_duration_seconds_bucket",
      "hopgate_proxy_errors_total",
      "hopgate_tunnels_active",
      "hopgate_tunnel_handshakes_total",
      "hopgate_streams_in_flight",
      "hopgate_proxy_bytes_total",
      "hopgate_certificate_expiry_timestamp_seconds",
      "hopgate_visitor_rejected_total",
      "hopgate_visitor_limited_total",
    ]) {
      assert.ok(queried.has(required), `the dashboard shows ${required}`);
    }
  });

  it("has unique panel ids, positions, and data sources that the provisioning defines", () => {
    const dashboard = readDashboard();
    const panels = allPanels(dashboard);
    const ids = panels.map((panel) => panel.id);
    assert.equal(new Set(ids).size, ids.length, "panel ids are unique");
    const provisioned = readDeployYaml<{ datasources: Array<{ uid: string; type: string }> }>(
      "grafana/provisioning/datasources/hopgate.yaml",
    ).datasources;
    for (const variable of dashboard.templating.list.filter((v) => v.type === "datasource")) {
      const match = provisioned.find((source) => source.uid === variable.current?.value);
      assert.ok(match, `variable ${variable.name} defaults to a provisioned data source`);
      assert.equal(match.type, variable.query);
    }
    for (const panel of panels.filter((p) => p.type !== "row")) {
      assert.match(panel.datasource?.uid ?? "", /^\$\{(datasource|loki_datasource)\}$/, panel.title);
    }
  });
});
