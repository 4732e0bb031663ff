import type { OrderFailures } from "./certificate-store.js";
import type { ManagedDomain } from "./managed-domain.js";
import { nextRetryAtMs, type RenewalPolicy } from "./renewal-policy.js";

/** A domain's consecutive failures as one server holds them (ManagedDomain.failure). */
export type FailureState = NonNullable<ManagedDomain["failure"]>;

/**
 * A failure only this server counts: a refusal before the CA was asked (`refusal`; retried at
 * its `retryAtMs` when given, else with the backoff), or an error around the order (the store
 * or the lock failed). Only the latter counts against the CA's failed-validation limit.
 */
export function localFailure(
  previous: FailureState | undefined,
  reason: string,
  nowMs: number,
  refusal: { readonly retryAtMs?: number | undefined } | undefined,
  policy: RenewalPolicy,
): FailureState {
  const count = (previous?.count ?? 0) + 1;
  const recentMs = [...(previous?.recentMs ?? []), ...(refusal ? [] : [nowMs])].slice(
    -policy.maxFailuresPerHour,
  );
  const nextRetryMs = refusal?.retryAtMs ?? nextRetryAtMs(count, recentMs, nowMs, policy);
  return { reason, nextRetryMs, count, recentMs };
}

/**
 * A failed order that reached the CA, counted with the failures that every server sharing the
 * store recorded (`shared`): the consecutive count goes on from the higher of both (this
 * server's own count includes its refusals), the hourly limit takes the recorded failures.
 */
export function caFailure(
  previous: FailureState | undefined,
  shared: OrderFailures | undefined,
  nowMs: number,
  policy: RenewalPolicy,
): { readonly count: number; readonly recentMs: readonly number[]; readonly retryInMs: number } {
  const count = Math.max(previous?.count ?? 0, shared?.count ?? 0) + 1;
  const recentMs = [...(shared?.recentMs ?? []), nowMs].slice(-policy.maxFailuresPerHour);
  return { count, recentMs, retryInMs: nextRetryAtMs(count, recentMs, nowMs, policy) - nowMs };
}

/**
 * What binds the next order of a domain: this server's own failure or the recorded ones,
 * whichever allows the next order later (an order before the recorded retry time is deferred).
 */
export function bindingFailure(
  local: FailureState | undefined,
  shared: OrderFailures | undefined,
): FailureState | undefined {
  if (!shared || (local && local.nextRetryMs >= shared.nextRetryMs)) return local;
  return recordedFailure(local, shared);
}

/** The recorded failures as this server's state (its own count kept when higher). */
export function recordedFailure(local: FailureState | undefined, shared: OrderFailures): FailureState {
  return {
    reason: shared.reason,
    nextRetryMs: shared.nextRetryMs,
    count: Math.max(local?.count ?? 0, shared.count),
    recentMs: shared.recentMs,
  };
}
