import assert from "node:assert/strict";
import type { Worker } from "node:cluster";
import { describe, it, type TestContext } from "node:test";
import { createLivenessWatchdog, type LivenessWatchdog } from "../../src/server/workers/liveness-watchdog.js";

const TIMEOUT_SECONDS = 60;

interface FakeWorker {
  readonly worker: Worker;
  pings: number;
}

/** A connected worker that counts pings and, when `answers`, answers each at once. */
function fakeWorker(watchdog: () => LivenessWatchdog, answers: boolean): FakeWorker {
  const fake: FakeWorker = {
    pings: 0,
    worker: {
      isConnected: () => true,
      send: () => {
        fake.pings += 1;
        if (answers) watchdog().answered(fake.worker);
        return true;
      },
    } as unknown as Worker,
  };
  return fake;
}

/** Advances the mocked clock in 1 s steps, so that each ping runs at its own time. */
function advance(t: TestContext, ms: number): void {
  for (let elapsed = 0; elapsed < ms; elapsed += 1_000) t.mock.timers.tick(Math.min(1_000, ms - elapsed));
}

function setUp(t: TestContext, timeoutSeconds: number, answering: boolean[]) {
  t.mock.timers.enable({ apis: ["setInterval", "Date"], now: 1_000_000 });
  const killed: Array<{ worker: Worker; silentMs: number }> = [];
  const watchdog: LivenessWatchdog = createLivenessWatchdog({
    timeoutSeconds,
    listeningWorkers: () => workers.map((w) => w.worker),
    onUnresponsive: (worker, silentMs) => killed.push({ worker, silentMs }),
  });
  const workers = answering.map((answers) => fakeWorker(() => watchdog, answers));
  for (const w of workers) watchdog.answered(w.worker);
  t.after(() => watchdog.stop());
  return { watchdog, workers, killed };
}

describe("the liveness watchdog", () => {
  it("never reports a worker that answers, and reports a silent one once, after the timeout", (t) => {
    const { watchdog, workers, killed } = setUp(t, TIMEOUT_SECONDS, [true, false]);
    watchdog.start();
    advance(t, TIMEOUT_SECONDS * 1000 - 5_000);
    assert.equal(killed.length, 0);
    assert.deepEqual(watchdog.unanswering(), [workers[1]!.worker], "silent past 10 s: not ready");
    advance(t, 10 * 60_000);
    assert.equal(killed.length, 1);
    assert.equal(killed[0]!.worker, workers[1]!.worker);
    assert.ok(killed[0]!.silentMs >= TIMEOUT_SECONDS * 1000, `${killed[0]!.silentMs} ms`);
    assert.ok(workers[0]!.pings >= 100, `${workers[0]!.pings} pings in 11 min`);
  });

  it("does not count silence across a stall of the primary's own timer", (t) => {
    const { watchdog, workers, killed } = setUp(t, TIMEOUT_SECONDS, [true]);
    watchdog.start();
    advance(t, 5_000);
    // The primary's loop was blocked 2 min: the worker's pongs wait unread in the pipe.
    t.mock.timers.setTime(Date.now() + 120_000);
    advance(t, 5_000);
    assert.equal(killed.length, 0);
    assert.deepEqual(watchdog.unanswering(), []);
    assert.ok(workers[0]!.pings >= 2);
  });

  it("neither pings nor reports when off (0)", (t) => {
    const { watchdog, workers, killed } = setUp(t, 0, [false]);
    watchdog.start();
    advance(t, 60 * 60_000);
    assert.equal(workers[0]!.pings, 0);
    assert.equal(killed.length, 0);
    assert.deepEqual(watchdog.unanswering(), []);
  });

  it("stops pinging and reporting once stopped", (t) => {
    const { watchdog, workers, killed } = setUp(t, TIMEOUT_SECONDS, [false]);
    watchdog.start();
    advance(t, 5_000);
    watchdog.stop();
    const pings = workers[0]!.pings;
    advance(t, 10 * 60_000);
    assert.equal(workers[0]!.pings, pings);
    assert.equal(killed.length, 0);
  });
});
