import { normalizeDomain } from "../../../lib/domain-name.js";
import { HopGateError } from "../../../lib/hopgate-error.js";
import { isWildcardPattern, wildcardOf } from "../../../lib/wildcard-domain.js";
import type { Logger } from "../../../lib/logger.js";
import type { CertificateProvider } from "../certificate-provider.js";
import { generateSelfSignedCertificate } from "../self-signed-certificate.js";
import type { AddressCheck } from "./address-check.js";
import type { CertificateIssuer } from "./acme-issuer.js";
import { createCertificatePickUp, type CertificateLook } from "./certificate-pickup.js";
import type { CertificateStore } from "./certificate-store.js";
import {
  servedCertificate,
  statusOf,
  type CertificateStatus,
  type ManagedDomain,
  type ServedCertificate,
} from "./managed-domain.js";
import { bindingFailure } from "./order-failure.js";
import { retryDecision, type RetryDecision } from "./order-retry.js";
import { createOrderRunner, type AcmeOrderEvent, type OrderRunnerOptions } from "./order-runner.js";
import { DEFAULT_RENEWAL_POLICY, renewAtMs, type RenewalPolicy } from "./renewal-policy.js";

export type { CertificateStatus } from "./managed-domain.js";
export type { AcmeOrderEvent } from "./order-runner.js";
export type { RetryDecision } from "./order-retry.js";

/** What an admin's "retry now" did, and the domain's status after it. */
export interface RetryResult {
  readonly decision: RetryDecision;
  readonly status: CertificateStatus;
}

/** The domain store as the certificate manager needs it (ask it before any on-demand order). */
export interface DomainRegistry {
  isRegistered(domain: string): Promise<boolean>;
  allDomains(): Promise<string[]>;
}

export interface AcmeCertificateManagerOptions {
  readonly mainDomain: string;
  /** HOP_SERVER_PROXY_DOMAINS: ordered like the main domain, whether registered or not. */
  readonly extraDomains?: readonly string[];
  readonly registry: DomainRegistry;
  readonly store: CertificateStore;
  readonly issuer: CertificateIssuer;
  /** HOP_ACME_EXPECT_IPS, when set. */
  readonly addressCheck?: AddressCheck;
  readonly policy?: Partial<RenewalPolicy>;
  /**
   * Longest time a handshake waits for the order it triggered before getting the fallback.
   * Default 8 s: below the TLS listener's handshake timeout (10 s), which would cut it off.
   */
  readonly onDemandWaitMs?: number;
  /**
   * How often the store is asked, unprompted, for certificates that other servers of the gateway
   * obtained or renewed (certificate-pickup.ts). Default 60 s: the safety net under
   * `certificatesChanged()`, which the store-change signal calls within about a second.
   */
  readonly pickUpIntervalMs?: number;
  /** Longest time stop() waits for orders in flight (then closes the issuer). Default 5 s. */
  readonly stopGraceMs?: number;
  readonly onOrder?: (event: AcmeOrderEvent) => void;
  /** Limits orders that reach the CA (labels under wildcard domains); see order-runner.ts. */
  readonly orderGate?: OrderRunnerOptions["orderGate"];
  readonly logger: Logger;
}

/** Certificate provider of HOP_SERVER_TLS=acme, plus the hooks the composition root calls. */
export interface AcmeCertificateManager extends CertificateProvider {
  /** Obtains a certificate for a newly registered domain unless it has a fresh one; resolves when settled. */
  ensure(domain: string): Promise<CertificateStatus>;
  /** Forgets and deletes the domain's certificate (domain unregistered). */
  remove(domain: string): Promise<void>;
  /**
   * Stops serving and renewing the domain but keeps its certificate in the store (a released
   * label): when the label is held again, that certificate is taken instead of a new order.
   */
  forget(domain: string): void;
  /** Undefined for a domain the manager does not manage. */
  status(domain: string): CertificateStatus | undefined;
  /**
   * `status()` with the failed orders that every server sharing the store recorded: their
   * reason and next retry when they put the next order later than this server's own failure
   * (the admin API). Falls back to `status()` while the store does not answer.
   */
  currentStatus(domain: string): Promise<CertificateStatus | undefined>;
  /**
   * An admin's "retry now" (order-retry.ts): unless the hourly limit of failed orders holds it
   * back, drops the backoff (this server's and the one recorded in the store) and starts an
   * order, which runs under the domain's lock like every order, so a gateway orders once.
   * Undefined for a domain the manager does not manage; rejects while the store does not answer.
   */
  retryNow(domain: string): Promise<RetryResult | undefined>;
  /**
   * A certificate was stored (by any server sharing the store): serve it if it is newer than the
   * one served. `full` re-reads every stored revision: signals may have been lost meanwhile.
   */
  certificatesChanged(look?: CertificateLook): void;
}

const FALLBACK_VALIDITY_DAYS = 365;
/**
 * Unprompted looks for certificates stored elsewhere. Signals are lost only while the listener
 * is disconnected, and its reconnection asks for a full look, so this only bounds the delay after
 * a failed look or a missed signal nobody noticed (docs/scale-out.md, "Shared certificates").
 */
const DEFAULT_PICK_UP_INTERVAL_MS = 60_000;

/**
 * Obtains, stores, serves and renews ACME certificates for the main domain, the extra domains and
 * every registered domain. Start-up never waits for the CA: names without a certificate get a
 * self-signed fallback until theirs arrives. One order per domain at a time: in this process by
 * the shared `order` promise, across servers by the store's lock.
 */
export function createAcmeCertificateManager(options: AcmeCertificateManagerOptions): AcmeCertificateManager {
  const logger = options.logger.child({ component: "certs" });
  const policy: RenewalPolicy = { ...DEFAULT_RENEWAL_POLICY, ...options.policy };
  const onDemandWaitMs = options.onDemandWaitMs ?? 8_000;
  const staticDomains = [options.mainDomain, ...(options.extraDomains ?? [])];
  const entries = new Map<string, ManagedDomain>();
  const defaultListeners = new Set<() => void>();
  const { store } = options;
  let fallback: ServedCertificate | undefined;
  let stopped = false;
  let reconciling: Promise<void> | undefined;

  const fallbackCertificate = () => {
    if (!fallback) throw new HopGateError("internal", "ACME certificate manager used before start()");
    return fallback;
  };
  const defaultCertificate = () => entries.get(options.mainDomain)?.served ?? fallbackCertificate();
  const isCurrent = (domain: string, entry: ManagedDomain) => !stopped && entries.get(domain) === entry;

  const runner = createOrderRunner({
    store,
    issuer: options.issuer,
    ...(options.addressCheck ? { addressCheck: options.addressCheck } : {}),
    policy,
    isCurrent,
    onServed: (domain) => {
      if (domain === options.mainDomain) for (const listener of defaultListeners) listener();
    },
    ...(options.onOrder ? { onOrder: options.onOrder } : {}),
    ...(options.orderGate ? { orderGate: options.orderGate } : {}),
    logger,
  });

  const pickUp = createCertificatePickUp({
    store,
    intervalMs: options.pickUpIntervalMs ?? DEFAULT_PICK_UP_INTERVAL_MS,
    onChanged: (domain) => pickUpStored(domain),
    logger,
  });

  /**
   * Serves the stored certificate of a managed domain when it is not the one served and not older
   * (another server ordered or renewed it). New handshakes get it; established connections keep
   * the certificate they were opened with.
   */
  async function pickUpStored(domain: string): Promise<void> {
    const entry = entries.get(domain);
    if (!entry) return; // not managed here: a handshake or ensure() takes it from the store
    const stored = await store.loadCertificate(domain);
    if (!stored || !isCurrent(domain, entry)) return;
    const candidate = servedCertificate(stored);
    const current = entry.served?.facts;
    if (current?.serialNumber === candidate.facts.serialNumber) return;
    if (current && candidate.facts.notAfterMs < current.notAfterMs) return;
    runner.serve(domain, entry, candidate);
    logger.info(
      { domain, serial: candidate.facts.serialNumber, notAfterMs: candidate.facts.notAfterMs },
      "certificate picked up from the store",
    );
  }

  function manage(domain: string): ManagedDomain {
    let entry = entries.get(domain);
    if (!entry) {
      entry = {};
      entries.set(domain, entry);
    }
    return entry;
  }

  /** A handshake waits for an order that a handshake started, within its budget. */
  async function awaitHandshakeOrder(entry: ManagedDomain): Promise<void> {
    const order = entry.order;
    if (order?.origin !== "handshake") return;
    const budgetMs = order.startedMs + onDemandWaitMs - Date.now();
    if (budgetMs <= 0) return;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, budgetMs)));
    await Promise.race([order.done, timeout]).finally(() => clearTimeout(timer));
  }

  /**
   * At start: delete what was unregistered while the server was down, then order what is missing,
   * one domain after another. Every wanted domain shows as pending at once; a handshake may order
   * its own ahead of the queue, and one removed meanwhile is skipped.
   */
  async function reconcile(): Promise<void> {
    let registered: string[] | undefined;
    try {
      registered = await options.registry.allDomains();
    } catch (error) {
      logger.error({ err: error }, "could not list registered domains; they get certificates on demand");
    }
    const wildcards = new Set((registered ?? []).filter(isWildcardPattern));
    const wanted = new Set(
      [...staticDomains, ...(registered ?? [])]
        .filter((name) => !isWildcardPattern(name))
        .filter((name) => orderable(name, logger)),
    );
    for (const domain of registered ? [...entries.keys()] : []) {
      // A label's certificate stays (unserved until the label is held) while its wildcard does.
      const label = wildcardOf(domain);
      if (label && wildcards.has(label.pattern) && !wanted.has(domain)) {
        manager.forget(domain);
        continue;
      }
      if (!wanted.has(domain)) {
        logger.info({ domain }, "deleting the certificate of a domain that is no longer registered");
        await manager.remove(domain);
      }
    }
    for (const domain of wanted) manage(domain);
    for (const domain of wanted) {
      if (stopped) return;
      if (entries.has(domain)) await manager.ensure(domain);
    }
  }

  const manager: AcmeCertificateManager = {
    async secureContextFor(servername) {
      const domain = serverNameOf(servername);
      if (domain === undefined) return undefined;
      const known = entries.get(domain);
      if (known?.served) return known.served.context;
      if (!known && !(await options.registry.isRegistered(domain))) return undefined;
      const entry = known ?? manage(domain);
      if (!entry.served && !entry.order && (!entry.failure || entry.failure.nextRetryMs <= Date.now())) {
        void runner.start(domain, entry, "handshake");
      }
      await awaitHandshakeOrder(entry);
      return (entry.served ?? fallbackCertificate()).context;
    },
    defaultContext: () => defaultCertificate().context,
    defaultCertificate: () => defaultCertificate().pair,
    onDefaultChange(listener) {
      defaultListeners.add(listener);
      return () => defaultListeners.delete(listener);
    },
    expiries: () =>
      [...entries].flatMap(([domain, entry]) =>
        entry.served ? [{ domain, notAfterMs: entry.served.facts.notAfterMs }] : [],
      ),
    status: (domain) => {
      const entry = entries.get(serverNameOf(domain) ?? "");
      return entry && statusOf(entry);
    },
    async currentStatus(name) {
      const domain = serverNameOf(name) ?? "";
      const entry = entries.get(domain);
      if (!entry) return undefined;
      try {
        const shared = await store.orderFailures(domain);
        return statusOf({ ...entry, failure: bindingFailure(entry.failure, shared) });
      } catch (error) {
        logger.warn({ err: error, domain }, "recorded order failures unreadable; showing this server's");
        return statusOf(entry);
      }
    },
    async retryNow(name) {
      const domain = serverNameOf(name) ?? "";
      const entry = entries.get(domain);
      if (!entry || stopped) return undefined;
      const decision = retryDecision(entry, await store.orderFailures(domain), Date.now(), policy);
      if (decision.t === "order" && isCurrent(domain, entry)) {
        await store.retryOrderNow(domain);
        if (entry.failure) entry.failure = { ...entry.failure, nextRetryMs: Date.now() };
        logger.info({ domain }, "acme order retried now by the admin API");
        void runner.start(domain, entry, "background");
      }
      return { decision, status: (await manager.currentStatus(domain)) ?? statusOf(entry) };
    },
    certificatesChanged(look) {
      if (!stopped) void pickUp.poll(look);
    },
    async ensure(name) {
      const domain = serverNameOf(name);
      if (domain === undefined) throw new HopGateError("invalid_input", `not a domain name: ${name}`);
      const entry = manage(domain);
      const fresh = entry.served && Date.now() < renewAtMs(entry.served.facts, policy);
      if (!fresh && !stopped) await runner.start(domain, entry, "background");
      return statusOf(entry);
    },
    async remove(name) {
      const domain = serverNameOf(name) ?? name;
      const entry = entries.get(domain);
      if (entry) clearTimeout(entry.timer);
      entries.delete(domain);
      // Under the domain's lock, so an order in flight finishes (and skips its save) first.
      await store.withLock(`certificate:${domain}`, () => store.deleteCertificate(domain));
    },
    forget(name) {
      const domain = serverNameOf(name) ?? name;
      const entry = entries.get(domain);
      if (entry) clearTimeout(entry.timer);
      entries.delete(domain);
    },
    async start() {
      fallback = servedCertificate(
        await generateSelfSignedCertificate({ names: staticDomains, validityDays: FALLBACK_VALIDITY_DAYS }),
      );
      await pickUp.baseline();
      for (const stored of await store.loadAllCertificates()) {
        try {
          runner.serve(stored.domain, manage(stored.domain), servedCertificate(stored));
        } catch (error) {
          logger.error(
            { err: error, domain: stored.domain },
            "stored certificate unreadable; ordering a new one",
          );
        }
      }
      reconciling = reconcile().catch((error: unknown) => {
        logger.error({ err: error }, "start-up reconciliation of certificates failed");
      });
    },
    async stop() {
      stopped = true;
      pickUp.stop();
      for (const entry of entries.values()) clearTimeout(entry.timer);
      const inFlight = [...entries.values()].flatMap((entry) => (entry.order ? [entry.order.done] : []));
      let timer: NodeJS.Timeout | undefined;
      const grace = new Promise<void>(
        (resolve) => (timer = setTimeout(resolve, options.stopGraceMs ?? 5_000)),
      );
      await Promise.race([Promise.allSettled([...inFlight, reconciling]), grace]).finally(() =>
        clearTimeout(timer),
      );
      options.issuer.close();
    },
  };
  return manager;
}

/** An SNI name or domain as the store spells it (lowercase, no trailing dot), or undefined. */
function serverNameOf(name: string): string | undefined {
  const result = normalizeDomain(name, { allowSingleLabel: true });
  return result.ok ? result.domain : undefined;
}

/** CAs issue only for public multi-label names; `localhost` and the like are skipped. */
function orderable(domain: string, logger: Logger): boolean {
  if (normalizeDomain(domain).ok) return true;
  logger.warn({ domain }, "no ACME certificate for a single-label name; it gets the self-signed fallback");
  return false;
}
