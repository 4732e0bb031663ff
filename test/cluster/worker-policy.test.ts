import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  planRestart,
  RESTART_MAX_DELAY_MS,
  RESTART_MIN_DELAY_MS,
  STABLE_RUN_MS,
} from "../../src/server/workers/restart-backoff.js";
import { MAX_WORKERS, resolveWorkerCount } from "../../src/server/workers/worker-count.js";

describe("--workers policies", () => {
  it("auto is one worker per core, from 1 to 256; a number is kept", () => {
    assert.equal(resolveWorkerCount("auto", 2), 2);
    assert.equal(resolveWorkerCount("auto", 0), 1);
    assert.equal(resolveWorkerCount("auto", 1000), MAX_WORKERS);
    assert.equal(resolveWorkerCount(3, 64), 3);
  });

  it("restart delays double from 0.5 s per quick exit, never exceed 30 s, and start over after a stable run", () => {
    let quickExits = 0;
    const delays: number[] = [];
    for (let i = 0; i < 10; i++) {
      const plan = planRestart(quickExits, 100, true);
      delays.push(plan.delayMs);
      quickExits = plan.quickExits;
    }
    assert.deepEqual(delays.slice(0, 5), [500, 1000, 2000, 4000, 8000]);
    assert.equal(delays.at(-1), RESTART_MAX_DELAY_MS);
    assert.equal(planRestart(quickExits, STABLE_RUN_MS, true).delayMs, RESTART_MIN_DELAY_MS);
    // Killed at a 60 s start deadline: long, but never listening is no stable run.
    assert.deepEqual(planRestart(2, 2 * STABLE_RUN_MS, false), { delayMs: 2000, quickExits: 3 });
    fc.assert(
      fc.property(fc.nat(10_000), fc.nat(10 * STABLE_RUN_MS), fc.boolean(), (exits, ranMs, listened) => {
        const { delayMs } = planRestart(exits, ranMs, listened);
        return delayMs >= RESTART_MIN_DELAY_MS && delayMs <= RESTART_MAX_DELAY_MS;
      }),
    );
  });
});
