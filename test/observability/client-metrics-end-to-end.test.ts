import assert from "node:assert/strict";
import http from "node:http";
import { describe, it } from "node:test";
import { startBackend } from "../helpers/backend.js";
import { startGateway, startTestClient } from "../helpers/gateway.js";
import { promtoolCheckMetrics, sampleValue } from "../helpers/prometheus-text.js";
import { visit } from "../helpers/visit.js";

function get(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: "127.0.0.1", port, path }, (response) => {
        let body = "";
        response.setEncoding("utf8").on("data", (chunk: string) => (body += chunk));
        response.on("end", () => resolve({ status: response.statusCode ?? 0, body }));
      })
      .on("error", reject);
  });
}

describe("client metrics", () => {
  it("exposes the client's requests, tunnel state and bytes on its own listener, valid for promtool", async (t) => {
    const gateway = await startGateway(t);
    const backend = await startBackend(t, (req, res) => {
      req.resume();
      req.on("end", () => res.end("x".repeat(1000)));
    });
    const key = await gateway.register("metrics.example.test");
    const client = startTestClient(t, gateway, "metrics.example.test", key, [`web=${backend.url}`], {
      metricsListen: "127.0.0.1:0",
    });
    await client.connected;
    const port = (await client.handle).metricsPort;
    assert.ok(port, "the metrics listener is up");
    for (let i = 0; i < 3; i++) {
      const response = await visit(gateway.port, "metrics.example.test", "/", {
        method: "POST",
        body: "y".repeat(500),
      });
      assert.equal(response.status, 200);
    }
    const scrape = await get(port, "/metrics");
    assert.equal(scrape.status, 200);
    assert.equal(sampleValue(scrape.body, 'hopgate_client_requests_total{service="web",status="200"}'), 3);
    assert.equal(sampleValue(scrape.body, "hopgate_client_tunnel_connected"), 1);
    assert.equal(sampleValue(scrape.body, 'hopgate_client_bytes_total{direction="from_server"}'), 1500);
    assert.equal(sampleValue(scrape.body, 'hopgate_client_bytes_total{direction="to_server"}'), 3000);
    const check = await promtoolCheckMetrics(scrape.body);
    assert.equal(check.code, 0, check.output);
    assert.equal((await get(port, "/readyz")).status, 200);
    assert.equal((await get(port, "/healthz")).status, 200);
  });
});
