import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { OrderFailures } from "../../src/server/certs/acme/certificate-store.js";
import type { ManagedDomain, ServedCertificate } from "../../src/server/certs/acme/managed-domain.js";
import { retryDecision, type RetryDecision } from "../../src/server/certs/acme/order-retry.js";
import { DEFAULT_RENEWAL_POLICY } from "../../src/server/certs/acme/renewal-policy.js";

const NOW_MS = 10 * 3_600_000;
const HOUR_MS = 3_600_000;
const MINUTE_MS = 60_000;
// Only its presence matters to the decision.
const served = {} as ServedCertificate;
const order = { done: Promise.resolve(), origin: "background", startedMs: NOW_MS } as const;
const failure = (recentMs: number[], nextRetryMs = NOW_MS + HOUR_MS) => ({
  reason: "connection refused",
  nextRetryMs,
  count: recentMs.length,
  recentMs,
});
const shared = (recentMs: number[], nextRetryMs = NOW_MS + HOUR_MS): OrderFailures => ({
  reason: "connection refused",
  count: recentMs.length,
  recentMs,
  nextRetryMs,
});
/** Failure instants `agesMin` minutes ago, oldest first. */
const ago = (...agesMin: number[]) => agesMin.map((age) => NOW_MS - age * MINUTE_MS);

const cases: ReadonlyArray<{
  readonly name: string;
  readonly entry: ManagedDomain;
  readonly shared?: OrderFailures;
  readonly expected: RetryDecision;
}> = [
  { name: "a served certificate, no failure: nothing", entry: { served }, expected: { t: "nothing" } },
  {
    name: "a served certificate whose renewal failed: order",
    entry: { served, failure: failure(ago(2)) },
    expected: { t: "order" },
  },
  {
    name: "a served certificate, a renewal failure only in the store: order",
    entry: { served },
    shared: shared(ago(2)),
    expected: { t: "order" },
  },
  { name: "nothing served, no failure (pending): order", entry: {}, expected: { t: "order" } },
  {
    name: "a failed first order, 4 failures this hour: order",
    entry: { failure: failure(ago(50, 40, 30, 20)) },
    expected: { t: "order" },
  },
  {
    name: "5 failures this hour recorded by the gateway: limited until the 5th most recent is an hour old",
    entry: { failure: failure(ago(3)) },
    shared: shared(ago(50, 40, 30, 20, 3)),
    expected: { t: "limited", retryAtMs: NOW_MS + 10 * MINUTE_MS },
  },
  {
    name: "5 failures this hour on this server alone: limited",
    entry: { failure: failure(ago(59, 40, 30, 20, 3)) },
    expected: { t: "limited", retryAtMs: NOW_MS + MINUTE_MS },
  },
  {
    name: "5 failures, the oldest over an hour ago: order",
    entry: { failure: failure(ago(61, 40, 30, 20, 3)) },
    shared: shared(ago(61, 40, 30, 20, 3)),
    expected: { t: "order" },
  },
  {
    name: "an order in flight: it is the retry",
    entry: { failure: failure(ago(3)), order },
    expected: { t: "in_flight" },
  },
];

describe("retryDecision (an admin's retry now)", () => {
  for (const { name, entry, shared: recorded, expected } of cases) {
    it(name, () => {
      assert.deepEqual(retryDecision(entry, recorded, NOW_MS, DEFAULT_RENEWAL_POLICY), expected);
    });
  }
});
