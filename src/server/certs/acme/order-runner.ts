import type { Logger } from "../../../lib/logger.js";
import type { AddressCheck } from "./address-check.js";
import type { CertificateIssuer } from "./acme-issuer.js";
import type { CertificateStore, OrderFailures } from "./certificate-store.js";
import {
  servedCertificate,
  type ManagedDomain,
  type OrderOrigin,
  type ServedCertificate,
} from "./managed-domain.js";
import { caFailure, localFailure, recordedFailure, type FailureState } from "./order-failure.js";
import { renewAtMs, type RenewalPolicy } from "./renewal-policy.js";

/** One finished order, for `hopgate_acme_orders_total{result}`. */
export interface AcmeOrderEvent {
  readonly domain: string;
  /** "refused": HOP_ACME_EXPECT_IPS stopped it before the CA was asked. */
  readonly result: "issued" | "failed" | "refused";
  readonly durationMs: number;
  readonly reason?: string;
}

export interface OrderRunnerOptions {
  readonly store: CertificateStore;
  readonly issuer: CertificateIssuer;
  readonly addressCheck?: AddressCheck;
  readonly policy: RenewalPolicy;
  /** False once the domain was removed (or the manager stopped): its results are dropped. */
  readonly isCurrent: (domain: string, entry: ManagedDomain) => boolean;
  /** Called after `entry.served` changed. */
  readonly onServed: (domain: string) => void;
  readonly onOrder?: (event: AcmeOrderEvent) => void;
  /**
   * Asked just before the CA would be (a certificate already in the store is taken without
   * asking): a refusal stops the order, which is retried at `retryAtMs`.
   */
  readonly orderGate?: (
    domain: string,
  ) => { readonly reason: string; readonly retryAtMs: number } | undefined;
  readonly logger: Logger;
}

export interface OrderRunner {
  /** Starts an order unless one is in flight; the promise settles when it is done (never rejects). */
  start(domain: string, entry: ManagedDomain, origin: OrderOrigin): Promise<void>;
  /** Serves `served` and arms the renewal timer. */
  serve(domain: string, entry: ManagedDomain, served: ServedCertificate): void;
}

/**
 * "kept": another server (or the pick-up) already serves what the store holds, and it is fresh.
 * "deferred": failed orders recorded in the store (by any server) put the next order later.
 */
type Outcome =
  | { t: "issued" | "adopted" | "kept"; served: ServedCertificate }
  | { t: "deferred"; shared: OrderFailures }
  | { t: "cancelled" };

/**
 * A recorded retry time at most this far ahead counts as due: its writer's timer and the
 * database's clock may disagree by a query's latency.
 */
const RETRY_TOLERANCE_MS = 100;

/** setTimeout's longest delay (2^31-1 ms, ~24.8 days); longer waits are re-armed. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Orders, renewal timers and retries with backoff for the manager's domains. Each order runs under
 * the store's lock for its domain and first re-reads the store, so a certificate that another
 * server (or an earlier run) stored is taken instead of ordering again.
 */
export function createOrderRunner(options: OrderRunnerOptions): OrderRunner {
  const { store, policy, logger, isCurrent } = options;

  function serve(domain: string, entry: ManagedDomain, served: ServedCertificate): void {
    entry.served = served;
    entry.failure = undefined;
    schedule(domain, entry, renewAtMs(served.facts, policy));
    options.onServed(domain);
  }

  function schedule(domain: string, entry: ManagedDomain, atMs: number): void {
    clearTimeout(entry.timer);
    if (!isCurrent(domain, entry)) return;
    const delayMs = Math.min(Math.max(0, atMs - Date.now()), MAX_TIMER_MS);
    entry.timer = setTimeout(() => {
      if (Date.now() < atMs) schedule(domain, entry, atMs);
      else void start(domain, entry, "background");
    }, delayMs).unref();
  }

  function start(domain: string, entry: ManagedDomain, origin: OrderOrigin): Promise<void> {
    if (entry.order) return entry.order.done;
    clearTimeout(entry.timer);
    const done = run(domain, entry).finally(() => {
      entry.order = undefined;
    });
    entry.order = { done, origin, startedMs: Date.now() };
    return done;
  }

  async function run(domain: string, entry: ManagedDomain): Promise<void> {
    const startedMs = Date.now();
    try {
      const refusal = await options.addressCheck?.refusal(domain);
      if (refusal !== undefined) throw new OrderRefused(refusal);
      const replaced = entry.served?.facts.serialNumber;
      const outcome = await store.withLock(`certificate:${domain}`, () => obtain(domain, entry));
      if (outcome.t === "cancelled") return;
      if (outcome.t === "deferred") {
        defer(domain, entry, outcome.shared);
        return;
      }
      serve(domain, entry, outcome.served);
      if (outcome.t === "issued")
        report({ domain, result: "issued", durationMs: Date.now() - startedMs }, undefined, {
          serial: outcome.served.facts.serialNumber,
          ...(replaced ? { replaces: replaced } : {}),
        });
      else if (outcome.t === "adopted")
        logger.info(
          { domain, notAfterMs: outcome.served.facts.notAfterMs },
          "certificate taken from the store",
        );
    } catch (error) {
      if (!isCurrent(domain, entry)) return;
      const reason = error instanceof Error ? error.message : String(error);
      const nowMs = Date.now();
      const failure =
        error instanceof OrderFailed
          ? error.failure
          : localFailure(
              entry.failure,
              reason,
              nowMs,
              error instanceof OrderRefused ? error : undefined,
              policy,
            );
      entry.failure = failure;
      schedule(domain, entry, failure.nextRetryMs);
      const result = error instanceof OrderRefused ? "refused" : "failed";
      report(
        { domain, result, durationMs: nowMs - startedMs, reason },
        { nextRetryMs: failure.nextRetryMs, failures: failure.count },
      );
    }
  }

  /**
   * Inside the domain's lock, after the CA failed the order: the failure counted with those of
   * every server sharing the store, and recorded there before the lock goes to the next server.
   */
  async function sharedFailure(
    domain: string,
    entry: ManagedDomain,
    shared: OrderFailures | undefined,
    error: unknown,
  ): Promise<OrderFailed> {
    const reason = error instanceof Error ? error.message : String(error);
    const { count, recentMs, retryInMs } = caFailure(entry.failure, shared, Date.now(), policy);
    try {
      await store.recordOrderFailure(domain, { reason, count, retryInMs });
    } catch (recordError) {
      logger.error({ err: recordError, domain }, "could not record the failed order in the store");
    }
    // Measured after the write: this server's timer never fires before the stored retry time.
    return new OrderFailed({ reason, count, recentMs, nextRetryMs: Date.now() + retryInMs }, error);
  }

  /**
   * Inside the domain's lock. A fresh certificate in the store is never ordered again: servers
   * that waited for the lock while another renewed take its result (and so does this server when
   * the pick-up already served it).
   */
  async function obtain(domain: string, entry: ManagedDomain): Promise<Outcome> {
    if (!isCurrent(domain, entry)) return { t: "cancelled" };
    const stored = await store.loadCertificate(domain);
    if (stored) {
      const candidate = servedCertificate(stored);
      if (Date.now() < renewAtMs(candidate.facts, policy)) {
        const current = entry.served;
        return current && candidate.facts.serialNumber === current.facts.serialNumber
          ? { t: "kept", served: current }
          : { t: "adopted", served: candidate };
      }
    }
    const shared = await store.orderFailures(domain);
    if (shared && shared.nextRetryMs - Date.now() > RETRY_TOLERANCE_MS) return { t: "deferred", shared };
    const gated = options.orderGate?.(domain);
    if (gated) throw new OrderRefused(gated.reason, gated.retryAtMs);
    let pair;
    try {
      pair = await options.issuer.issue(domain);
    } catch (error) {
      throw await sharedFailure(domain, entry, shared, error);
    }
    if (!isCurrent(domain, entry)) return { t: "cancelled" };
    const served = servedCertificate(pair);
    await store.saveCertificate({ domain, ...pair });
    return { t: "issued", served };
  }

  /**
   * The failures recorded by the servers sharing the store say "not yet": no order, this server
   * shows their reason and retry time and tries again then.
   */
  function defer(domain: string, entry: ManagedDomain, shared: OrderFailures): void {
    entry.failure = recordedFailure(entry.failure, shared);
    schedule(domain, entry, shared.nextRetryMs);
    logger.info(
      {
        domain,
        reason: shared.reason,
        failures: shared.count,
        next_retry: new Date(shared.nextRetryMs).toISOString(),
        retry_in_ms: Math.max(0, shared.nextRetryMs - Date.now()),
      },
      "acme order deferred: failed orders recorded in the store",
    );
  }

  /**
   * One log line per order (domain, result, duration_ms; after a failure the consecutive
   * `failures`, `next_retry` and `retry_in_ms`) and the metrics hook.
   */
  function report(
    event: AcmeOrderEvent,
    retry?: { readonly nextRetryMs: number; readonly failures: number },
    extra: Record<string, string> = {},
  ): void {
    const fields = {
      ...extra,
      domain: event.domain,
      result: event.result,
      duration_ms: event.durationMs,
      ...(event.reason === undefined ? {} : { reason: event.reason }),
      ...(retry === undefined
        ? {}
        : {
            failures: retry.failures,
            next_retry: new Date(retry.nextRetryMs).toISOString(),
            retry_in_ms: Math.max(0, retry.nextRetryMs - Date.now()),
          }),
    };
    if (event.result === "issued") logger.info(fields, "acme order");
    else logger.warn(fields, "acme order");
    try {
      options.onOrder?.(event);
    } catch (error) {
      logger.error({ err: error }, "onOrder hook failed");
    }
  }

  return { start, serve };
}

class OrderRefused extends Error {
  constructor(
    message: string,
    readonly retryAtMs?: number,
  ) {
    super(message);
  }
}

/** A failed order that reached the CA, counted with the failures recorded in the store. */
class OrderFailed extends Error {
  constructor(
    readonly failure: FailureState,
    cause: unknown,
  ) {
    super(failure.reason, { cause });
  }
}
