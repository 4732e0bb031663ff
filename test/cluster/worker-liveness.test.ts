import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { pollUntil } from "../helpers/poll-until.js";
import { sampleValue } from "../helpers/prometheus-text.js";
import { tempDir } from "../helpers/temp-dir.js";
import { within } from "../helpers/within.js";
import { hangListeningWorker, startWorkersProcess } from "../helpers/workers-process.js";

/** The shortest timeout the setting takes: the test waits for it, never asserts how fast. */
const LIVENESS_TIMEOUT_SECONDS = 5;
/** Wide: a busy 2-core machine may take long to kill, restart and start a worker. */
const STEP_MS = 60_000;

async function readyz(metricsPort: number): Promise<{ status: number; text: string }> {
  const response = await within(fetch(`http://127.0.0.1:${metricsPort}/readyz`), "/readyz to answer");
  return { status: response.status, text: await response.text() };
}

async function metric(metricsPort: number, series: string): Promise<number | undefined> {
  const response = await within(fetch(`http://127.0.0.1:${metricsPort}/metrics`), "/metrics to answer");
  return sampleValue(await response.text(), series);
}

describe("the primary's liveness watchdog (HOP_SERVER_WORKER_LIVENESS_TIMEOUT_SECONDS)", () => {
  it("kills a listening worker that stops answering, counts and logs it, and restarts it", async (t) => {
    const gateway = await startWorkersProcess(t, await tempDir(t), 2, {
      HOP_SERVER_WORKER_LIVENESS_TIMEOUT_SECONDS: String(LIVENESS_TIMEOUT_SECONDS),
    });
    const server = gateway.process;
    const hung = hangListeningWorker(t, gateway, 2);

    let last = { status: 0, text: "" };
    await pollUntil(
      async () => (last = await readyz(gateway.metricsPort)).text.includes("workers not answering: 2"),
      STEP_MS,
      () => `/readyz never named the silent worker; last: ${last.status} ${last.text}`,
      100,
    );
    assert.equal(last.status, 503, last.text);

    const killed = await server.waitForLine(
      (l) => l.msg === "worker not answering (event loop blocked); killed it, restarting" && l.pid === hung,
      STEP_MS,
    );
    assert.equal(killed.worker, 2);
    assert.equal(killed.signal, "SIGKILL");
    assert.ok(Number(killed.seconds_without_answer) >= LIVENESS_TIMEOUT_SECONDS, JSON.stringify(killed));
    assert.equal(await metric(gateway.metricsPort, 'hopgate_worker_exits_total{reason="unresponsive"}'), 1);
    assert.equal(await metric(gateway.metricsPort, 'hopgate_worker_exits_total{reason="crashed"}'), 0);

    const restarted = await server.waitForLine(
      (l) => l.msg === "worker restarted and listening" && l.slot === 2,
      STEP_MS,
    );
    assert.notEqual(restarted.pid, hung);
    await pollUntil(
      async () => (last = await readyz(gateway.metricsPort)).status === 200,
      STEP_MS,
      () => `/readyz never ready again; last: ${last.status} ${last.text}`,
      200,
    );
    // Connections go round-robin: four requests reach the restarted worker too, and none hangs.
    for (let i = 0; i < 4; i++) {
      const answer = await within(gateway.admin("/sessions"), `admin request ${i}`);
      assert.equal(answer.status, 200, answer.text);
    }
    assert.equal(await metric(gateway.metricsPort, 'hopgate_worker_exits_total{reason="unresponsive"}'), 1);

    server.child.kill("SIGTERM");
    assert.equal(
      await within(server.exited, "the primary to exit after SIGTERM", STEP_MS),
      0,
      server.output().slice(-2000),
    );
  });
});
