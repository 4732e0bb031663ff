import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import { Registry } from "prom-client";
import { createMetricsListener } from "../../src/lib/metrics-listener.js";
import { silentLogger } from "../../src/lib/logger.js";
import { createReadinessProbe } from "../../src/lib/readiness.js";
import { createServerMetrics } from "../../src/server/metrics/server-metrics.js";
import { DEPLOY_DIR, readDeployYaml } from "../helpers/deploy-files.js";
import { startPrometheus, waitUntil } from "../helpers/prometheus-server.js";

interface VectorSample {
  metric: Record<string, string>;
  value: [number, string];
}

describe("a real Prometheus", () => {
  it("scrapes the metrics listener, answers a query for hopgate_http_requests_total and loads the alert rules", async (t) => {
    const registry = new Registry();
    const metrics = createServerMetrics({ registry, isRegisteredDomain: (d) => d === "app.example.com" });
    const listener = await createMetricsListener({
      listen: { host: "127.0.0.1", port: 0 },
      registry,
      readiness: createReadinessProbe({ checks: [] }),
      logger: silentLogger(),
    });
    t.after(() => listener.close());
    for (let i = 0; i < 7; i++) {
      metrics.requestFinished({ method: "GET", status: 200, domain: "app.example.com", durationMs: 10 });
    }

    // The shipped configuration, pointed at this listener and made quick.
    type ScrapeConfig = { job_name: string; static_configs: Array<{ targets: string[]; labels?: object }> };
    const shipped = readDeployYaml<{ scrape_configs: ScrapeConfig[] }>("prometheus/prometheus.yml");
    const job = shipped.scrape_configs.find((config) => config.job_name === "hopgate");
    assert.ok(job, "deploy/prometheus/prometheus.yml has a hopgate job");
    const target = { ...job.static_configs[0], targets: [`127.0.0.1:${listener.port}`] };
    const prometheus = await startPrometheus(t, {
      global: { scrape_interval: "1s", evaluation_interval: "1s" },
      rule_files: [join(DEPLOY_DIR, "prometheus/alerts.yml")],
      scrape_configs: [{ ...job, static_configs: [target] }],
    });

    const query = `/api/v1/query?query=${encodeURIComponent("hopgate_http_requests_total")}`;
    let samples: VectorSample[] = [];
    await waitUntil(
      async () => {
        samples = (await prometheus.api<{ result: VectorSample[] }>(query)).result;
        return samples.length > 0;
      },
      90_000,
      () => `Prometheus never returned hopgate_http_requests_total; its log:\n${prometheus.log()}`,
    );
    assert.deepEqual(samples[0]!.metric, {
      __name__: "hopgate_http_requests_total",
      domain: "app.example.com",
      instance: `127.0.0.1:${listener.port}`,
      job: "hopgate",
      component: "server",
      method: "GET",
      status: "200",
    });
    assert.equal(samples[0]!.value[1], "7");

    metrics.requestFinished({ method: "GET", status: 200, domain: "app.example.com", durationMs: 10 });
    await waitUntil(
      async () => (await prometheus.api<{ result: VectorSample[] }>(query)).result[0]?.value[1] === "8",
      60_000,
      () => "the counter did not move in Prometheus",
    );

    type Rules = { groups: Array<{ rules: Array<{ name: string; health: string; lastError?: string }> }> };
    await waitUntil(
      async () => {
        const rules = (await prometheus.api<Rules>("/api/v1/rules")).groups.flatMap((g) => g.rules);
        return rules.length > 0 && rules.every((rule) => rule.health === "ok");
      },
      60_000,
      () => `alert rules did not all evaluate cleanly; log:\n${prometheus.log()}`,
    );
  });
});
