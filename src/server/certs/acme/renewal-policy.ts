import type { CertificateFacts } from "../certificate-pair.js";

/** When to renew and how long to wait after a failure. */
export interface RenewalPolicy {
  /** Renew when this fraction of the lifetime is left (Let's Encrypt advises a third). */
  readonly renewAtRemainingFraction: number;
  /** First retry delay after a failed order; doubled per consecutive failure. */
  readonly firstRetryDelayMs: number;
  readonly maxRetryDelayMs: number;
}

export const DEFAULT_RENEWAL_POLICY: RenewalPolicy = {
  renewAtRemainingFraction: 1 / 3,
  // Let's Encrypt allows 5 failed validations per account, hostname and hour.
  firstRetryDelayMs: 5 * 60 * 1000,
  maxRetryDelayMs: 12 * 60 * 60 * 1000,
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
