import type { OrderFailures } from "./certificate-store.js";
import type { ManagedDomain } from "./managed-domain.js";
import { bindingFailure } from "./order-failure.js";
import type { RenewalPolicy } from "./renewal-policy.js";

const HOUR_MS = 3_600_000;

/**
 * What an admin's "retry now" does for a managed domain (docs/certificates.md, "Retry now"):
 * - "nothing": a certificate is served and its renewal has not failed;
 * - "in_flight": an order runs already (it is the retry);
 * - "limited": `maxFailuresPerHour` failed orders of the name within the hour (every server's,
 *   as the store records them): the CA would refuse, so no order before `retryAtMs`;
 * - "order": drop the backoff and order now.
 */
export type RetryDecision =
  | { readonly t: "nothing" }
  | { readonly t: "in_flight" }
  | { readonly t: "limited"; readonly retryAtMs: number }
  | { readonly t: "order" };

/**
 * Decides a retry from this server's record of the domain and the failures recorded in the
 * store (`shared`). The hourly limit is never lifted: only the backoff is.
 */
export function retryDecision(
  entry: ManagedDomain,
  shared: OrderFailures | undefined,
  nowMs: number,
  policy: RenewalPolicy,
): RetryDecision {
  const failure = bindingFailure(entry.failure, shared);
  if (entry.served && !failure) return { t: "nothing" };
  if (entry.order) return { t: "in_flight" };
  const limitAtMs = Math.max(
    hourlyLimitAtMs(entry.failure?.recentMs ?? [], policy),
    hourlyLimitAtMs(shared?.recentMs ?? [], policy),
  );
  return limitAtMs > nowMs ? { t: "limited", retryAtMs: limitAtMs } : { t: "order" };
}

/** When the oldest of the last `maxFailuresPerHour` failures is an hour old (0: under the limit). */
function hourlyLimitAtMs(recentMs: readonly number[], policy: RenewalPolicy): number {
  if (recentMs.length < policy.maxFailuresPerHour) return 0;
  return (recentMs[recentMs.length - policy.maxFailuresPerHour] ?? 0) + HOUR_MS;
}
