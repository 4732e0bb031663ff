import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Registry } from "prom-client";
import type { AccessLogEntry } from "../../src/lib/access-log.js";
import { createProxyObserver } from "../../src/server/metrics/proxy-observer.js";
import { createServerMetrics } from "../../src/server/metrics/server-metrics.js";
import type { AccessRecord } from "../../src/server/proxy/access-record.js";
import { sampleLines, sampleValue } from "../helpers/prometheus-text.js";

const DOMAIN = "app.example.com";
const PEER = "6f1c2c1e-0000-4000-8000-000000000001";

function record(overrides: Partial<AccessRecord>): AccessRecord {
  return {
    requestId: "r1",
    domain: DOMAIN,
    method: "GET",
    url: "/x",
    status: 200,
    durationMs: 5,
    bytesIn: 10,
    bytesOut: 20,
    remoteAddress: "203.0.113.7",
    sessionId: "s1",
    error: undefined,
    ...overrides,
  };
}

/** What one record adds to the series, observed by a fresh server's metrics. */
async function counts(finished: AccessRecord) {
  const registry = new Registry();
  const metrics = createServerMetrics({ registry, isRegisteredDomain: (d) => d === DOMAIN });
  const entries: AccessLogEntry[] = [];
  createProxyObserver({ metrics, accessLog: { write: (entry) => void entries.push(entry) } })(finished);
  const scrape = await registry.metrics();
  const value = (series: string) => sampleValue(scrape, series) ?? 0;
  // Every status, 0 (the visitor left first) included, which is labelled _other.
  const ofDomain = (metric: string) =>
    sampleLines(scrape)
      .filter((line) => line.startsWith(`${metric}{`) && line.includes(`domain="${DOMAIN}"`))
      .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(" ") + 1)), 0);
  return {
    requests: ofDomain("hopgate_http_requests_total"),
    relayed: ofDomain("hopgate_peer_relayed_requests_total"),
    bytes:
      value(`hopgate_proxy_bytes_total{direction="to_client"}`) +
      value(`hopgate_proxy_bytes_total{direction="from_client"}`),
    errors: ["backend", "client_abort"].map((type) => value(`hopgate_proxy_errors_total{type="${type}"}`)),
    relayedBy: entries.map((entry) => entry.relayedBy),
  };
}

describe("createProxyObserver: each visitor request counted once in a gateway (docs/scale-out.md)", () => {
  const cases: Array<[string, Partial<AccessRecord>, Awaited<ReturnType<typeof counts>>]> = [
    [
      "a request served here",
      {},
      { requests: 1, relayed: 0, bytes: 30, errors: [0, 0], relayedBy: [undefined] },
    ],
    [
      "the holder's part of a relayed request",
      { relayedBy: PEER },
      { requests: 0, relayed: 1, bytes: 0, errors: [0, 0], relayedBy: [PEER] },
    ],
    [
      "a relayed request whose backend failed at the holder",
      { relayedBy: PEER, status: 502, error: "backend_failed" },
      { requests: 0, relayed: 1, bytes: 0, errors: [1, 0], relayedBy: [PEER] },
    ],
    [
      "a relayed request the visitor left (counted by the server it reached)",
      { relayedBy: PEER, status: 0, error: "client_abort" },
      { requests: 0, relayed: 1, bytes: 0, errors: [0, 0], relayedBy: [PEER] },
    ],
    [
      "a visitor leaving a request here",
      { status: 0, error: "client_abort" },
      { requests: 1, relayed: 0, bytes: 30, errors: [0, 1], relayedBy: [undefined] },
    ],
  ];
  for (const [name, overrides, expected] of cases)
    it(name, async () => assert.deepEqual(await counts(record(overrides)), expected));
});
