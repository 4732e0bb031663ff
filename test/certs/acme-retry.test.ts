import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  DEFAULT_RENEWAL_POLICY,
  nextRetryAtMs,
  type RenewalPolicy,
} from "../../src/server/certs/acme/renewal-policy.js";
import { issued, presented, startAcmeGateway } from "../helpers/acme-gateway.js";
import { ACME_MAIN_DOMAIN } from "../helpers/acme-server-config.js";
import type { LogLine } from "../helpers/log-capture.js";
import { until } from "../helpers/poll-until.js";

const HOUR_MS = 3_600_000;

/** Failure instants of an order that fails at every attempt, each retried when scheduled. */
function failingRun(count: number, policy: RenewalPolicy, random: () => number): number[] {
  const failuresMs = [0];
  while (failuresMs.length < count) {
    const nowMs = failuresMs.at(-1) ?? 0;
    const recent = failuresMs.slice(-policy.maxFailuresPerHour);
    failuresMs.push(nextRetryAtMs(failuresMs.length, recent, nowMs, policy, random));
  }
  return failuresMs;
}

describe("ACME retry schedule after a failed order", () => {
  it("retries after 15, 30, 60, 120 s, then waits for the hourly limit, then doubles up to 1 h", () => {
    const atS = failingRun(11, DEFAULT_RENEWAL_POLICY, () => 0.5).map((ms) => ms / 1000);
    // Five failures within 4 min; the sixth waits until the first is an hour old.
    assert.deepEqual(atS, [0, 15, 45, 105, 225, 3600, 4080, 5040, 6960, 10560, 14160]);
  });

  it("never fails more than 5 times within an hour and never waits more than 1 h (±10 %)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), { minLength: 1 }),
        (draws) => {
          let i = 0;
          const random = () => draws[i++ % draws.length] ?? 0;
          const failuresMs = failingRun(40, DEFAULT_RENEWAL_POLICY, random);
          failuresMs.forEach((atMs, index) => {
            const inHour = failuresMs.filter((other) => other >= atMs && other < atMs + HOUR_MS);
            assert.ok(inHour.length <= 5, `${inHour.length} failures in the hour from ${atMs} ms`);
            const next = failuresMs[index + 1];
            if (next !== undefined) assert.ok(next - atMs <= 1.1 * HOUR_MS);
          });
          assert.ok((failuresMs[1] ?? 0) <= 16_500, "first retry within 15 s + 10 %");
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe("a server whose HTTP-01 validation fails at first (pebble)", () => {
  it("logs each failure with its next retry, backs off, and gets its certificate once the front is fixed", async (t) => {
    const firstRetryDelayMs = 1_000;
    // The front points nowhere: pebble's validation request is refused.
    const gateway = await startAcmeGateway(t, {}, { certificateValiditySeconds: 3_600 });
    const server = await gateway.start("A", {}, undefined, { acmeRetry: { firstRetryDelayMs } });
    const failed = (): LogLine[] =>
      server.logs.lines.filter(
        (l) => l.msg === "acme order" && l.domain === ACME_MAIN_DOMAIN && l.result === "failed",
      );
    await until(() => failed().length >= 2, "two failed orders", 60_000);
    gateway.front.switchTo(server.httpPort);

    const [first, second] = failed();
    assert.ok(first && second);
    assert.equal(first.failures, 1);
    assert.equal(second.failures, 2);
    assert.match(String(first.reason), /\S/, "the failure names the CA's reason");
    for (const [line, baseMs] of [
      [first, firstRetryDelayMs],
      [second, 2 * firstRetryDelayMs],
    ] as const) {
      const retryInMs = Number(line.retry_in_ms);
      assert.ok(retryInMs >= 0.9 * baseMs - 100 && retryInMs <= 1.1 * baseMs, `retry_in_ms ${retryInMs}`);
      const nextRetryMs = Date.parse(String(line.next_retry));
      assert.ok(
        Math.abs(nextRetryMs - (Date.parse(String(line.ts)) + retryInMs)) <= 5,
        "next_retry is time + retry_in_ms",
      );
    }
    assert.ok(
      Date.parse(String(second.ts)) >= Date.parse(String(first.next_retry)),
      "no retry before its time",
    );

    // The next retry is at most 2.2 s away; the margin is for a loaded machine, not a speed.
    await until(() => issued(server, ACME_MAIN_DOMAIN).length === 1, "the certificate after the fix", 30_000);
    const [done] = issued(server, ACME_MAIN_DOMAIN);
    assert.equal(await presented(server, gateway.running, ACME_MAIN_DOMAIN), done?.serial);
    assert.ok(
      Date.parse(String(done?.ts)) >= Date.parse(String(second.next_retry)),
      "issued at the scheduled retry",
    );
  });
});
