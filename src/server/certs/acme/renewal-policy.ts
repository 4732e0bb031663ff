import type { CertificateFacts } from "../certificate-pair.js";

/** When to renew and when to try again after a failure. */
export interface RenewalPolicy {
  /** Renew when this fraction of the lifetime is left (Let's Encrypt advises a third). */
  readonly renewAtRemainingFraction: number;
  /** First retry delay after a failed order; doubled per consecutive failure. */
  readonly firstRetryDelayMs: number;
  readonly maxRetryDelayMs: number;
  /**
   * At most this many failed orders of one domain within any hour: a retry waits until the
   * oldest of them is an hour old. Let's Encrypt allows 5 failed validations per account,
   * hostname and hour (https://letsencrypt.org/docs/rate-limits/).
   */
  readonly maxFailuresPerHour: number;
}

const HOUR_MS = 3_600_000;

/**
 * 15 s first: a DNS record or front proxy fixed a few seconds late costs seconds, not minutes.
 * Then 30 s, 1, 2 min (five failures within about 4 min), then the hourly limit holds the sixth
 * back until the first is an hour old, and the doubling reaches the 1 h cap.
 */
export const DEFAULT_RENEWAL_POLICY: RenewalPolicy = {
  renewAtRemainingFraction: 1 / 3,
  firstRetryDelayMs: 15_000,
  maxRetryDelayMs: HOUR_MS,
  maxFailuresPerHour: 5,
};

/** The instant at which `renewAtRemainingFraction` of the certificate's lifetime is left. */
export function renewAtMs(facts: CertificateFacts, policy: RenewalPolicy): number {
  const lifetimeMs = facts.notAfterMs - facts.notBeforeMs;
  return facts.notAfterMs - lifetimeMs * policy.renewAtRemainingFraction;
}

/** Delay before retry number `failures` (1 = first failure): doubling, capped, with ±10 % jitter. */
export function retryDelayMs(
  failures: number,
  policy: RenewalPolicy,
  random: () => number = Math.random,
): number {
  const base = Math.min(policy.maxRetryDelayMs, policy.firstRetryDelayMs * 2 ** Math.max(0, failures - 1));
  return Math.round(base * (0.9 + 0.2 * random()));
}

/**
 * When to try again after consecutive failure number `failures`, the last one at `nowMs`:
 * the backoff, but never before the `maxFailuresPerHour`-th most recent failure
 * (`recentFailuresMs`, oldest first, ending with this one) is an hour old.
 */
export function nextRetryAtMs(
  failures: number,
  recentFailuresMs: readonly number[],
  nowMs: number,
  policy: RenewalPolicy,
  random: () => number = Math.random,
): number {
  const backoffAtMs = nowMs + retryDelayMs(failures, policy, random);
  const oldestInLimit = recentFailuresMs[recentFailuresMs.length - policy.maxFailuresPerHour];
  return oldestInLimit === undefined ? backoffAtMs : Math.max(backoffAtMs, oldestInLimit + HOUR_MS);
}
