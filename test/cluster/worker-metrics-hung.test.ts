import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { pollUntil } from "../helpers/poll-until.js";
import { promtoolCheckMetrics, sampleValue } from "../helpers/prometheus-text.js";
import { tempDir } from "../helpers/temp-dir.js";
import { within } from "../helpers/within.js";
import { hangListeningWorker, startWorkersProcess } from "../helpers/workers-process.js";

/** Generous: the primary waits 3 s for a silent worker; a busy 2-core machine adds more. */
const SCRAPE_DEADLINE_MS = 20_000;

interface Scrape {
  readonly status: number;
  readonly text: string;
  value(series: string): number | undefined;
}

async function scrape(metricsPort: number): Promise<Scrape> {
  const response = await within(
    fetch(`http://127.0.0.1:${metricsPort}/metrics`),
    "the primary's /metrics to answer",
    SCRAPE_DEADLINE_MS,
  );
  const text = await response.text();
  return { status: response.status, text, value: (series) => sampleValue(text, series) };
}

/** Scrapes until `holds`; returns that scrape. */
async function scrapeUntil(
  metricsPort: number,
  holds: (s: Scrape) => boolean,
  what: string,
): Promise<Scrape> {
  let last: Scrape | undefined;
  await pollUntil(
    async () => holds((last = await scrape(metricsPort))),
    60_000,
    () => `${what}; last scrape: ${last?.status} ${last?.text.slice(0, 3000)}`,
    200,
  );
  return last!;
}

describe("the primary's /metrics with a worker that hangs after it listens", () => {
  it("answers in time with its own series, the others' sum and the hung worker's last answer", async (t) => {
    const gateway = await startWorkersProcess(t, await tempDir(t), 2);
    const server = gateway.process;
    const healthy = await scrapeUntil(
      gateway.metricsPort,
      (s) => s.status === 200 && s.value("hopgate_workers_listening") === 2,
      "a scrape with both workers listening",
    );
    const cpuBefore = healthy.value("process_cpu_seconds_total");
    assert.ok(cpuBefore !== undefined && cpuBefore > 0, "the workers' process series are summed");

    const hung = hangListeningWorker(t, gateway, 2);

    const during = await scrape(gateway.metricsPort);
    assert.equal(during.status, 200, during.text.slice(0, 2000));
    assert.equal(during.value("hopgate_workers_scrape_missing"), 1);
    // The primary's own series: the hung worker still counts as listening.
    assert.equal(during.value("hopgate_workers_listening"), 2);
    assert.equal(during.value("hopgate_workers_configured"), 2);
    assert.equal(during.value('hopgate_worker_exits_total{reason="crashed"}'), 0);
    assert.equal(during.value("hopgate_worker_restarts_total"), 0);
    assert.ok(during.text.includes("hopgate_tunnels_active"), "the workers' series are there");
    // The hung worker's last answer stays in the sum: the summed counter does not drop.
    const cpuDuring = during.value("process_cpu_seconds_total") ?? 0;
    assert.ok(cpuDuring >= cpuBefore, `process_cpu_seconds_total ${cpuBefore} then ${cpuDuring}`);
    const check = await promtoolCheckMetrics(during.text);
    assert.equal(check.code, 0, check.output);
    const logged = await server.waitForLine(
      (l) => l.component === "metrics" && l.pid === hung && l.level === "warn",
      SCRAPE_DEADLINE_MS,
    );
    assert.equal(logged.worker, 0, "the primary logs the worker that did not answer");

    // Worker 1 still answers: its CPU time moves the sum while worker 2's last answer cannot.
    const later = await scrapeUntil(
      gateway.metricsPort,
      (s) => s.status === 200 && (s.value("process_cpu_seconds_total") ?? 0) > cpuDuring,
      "worker 1's fresh series in the sum",
    );
    assert.equal(later.value("hopgate_workers_scrape_missing"), 1);

    process.kill(hung, "SIGCONT");
    await scrapeUntil(
      gateway.metricsPort,
      (s) => s.status === 200 && s.value("hopgate_workers_scrape_missing") === 0,
      "worker 2 to answer again after SIGCONT",
    );
    server.child.kill("SIGTERM");
    assert.equal(
      await within(server.exited, "the primary to exit after SIGTERM", 60_000),
      0,
      server.output().slice(-2000),
    );
  });
});
