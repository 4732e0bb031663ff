import type { CertificatePair } from "../certificate-pair.js";

/** A certificate as stored: the chain and key of one domain. */
export interface StoredCertificate extends CertificatePair {
  readonly domain: string;
}

/** When a domain's stored certificate was last written (certificate-pickup.ts). */
export interface CertificateRevision {
  readonly domain: string;
  readonly updatedAtMs: number;
}

/** The ACME account of one directory URL (staging and production accounts are different). */
export interface AcmeAccount {
  readonly directoryUrl: string;
  readonly accountKeyPem: string;
  /** The account's URL at the CA (RFC 8555 §7.3, the "kid" of later requests). */
  readonly accountUrl: string;
  readonly email?: string;
}

/**
 * The failed orders of one domain that reached the CA, as every server sharing the store counts
 * them (since the domain's last stored certificate). Times are on the reading server's clock.
 */
export interface OrderFailures {
  /** The latest failure's reason. */
  readonly reason: string;
  /** Consecutive failures since the last stored certificate. */
  readonly count: number;
  /** When the failures within the last hour happened, oldest first. */
  readonly recentMs: readonly number[];
  /** When the latest failure allows the next order. */
  readonly nextRetryMs: number;
}

/** A failed order to record: its consecutive number and the wait before the next order. */
export interface OrderFailure {
  readonly reason: string;
  readonly count: number;
  readonly retryInMs: number;
}

/**
 * Persistence of certificates and the ACME account, shared by every server that shares the store.
 * The certificate manager depends only on this seam; the Kysely implementation serves SQLite and
 * PostgreSQL.
 */
export interface CertificateStore {
  loadCertificate(domain: string): Promise<StoredCertificate | undefined>;
  loadAllCertificates(): Promise<StoredCertificate[]>;
  /** Inserts or replaces the domain's certificate, and forgets the domain's order failures. */
  saveCertificate(certificate: StoredCertificate): Promise<void>;
  /** Deletes the domain's certificate and its order failures (the domain was unregistered). */
  deleteCertificate(domain: string): Promise<void>;
  /** The domain's recorded order failures; undefined when none (or since its last certificate). */
  orderFailures(domain: string): Promise<OrderFailures | undefined>;
  /** Records a failed order that reached the CA; called inside the domain's lock. */
  recordOrderFailure(domain: string, failure: OrderFailure): Promise<void>;
  /**
   * Moves the domain's recorded next retry to now when it is later (an admin's retry): the
   * failures stay, so the consecutive count and the hourly limit still hold.
   */
  retryOrderNow(domain: string): Promise<void>;
  /**
   * Each stored certificate's domain and last write (`updated_at`, the writer's clock), for rows
   * written at or after `sinceMs` (every row when undefined). Cheap: no PEM is read.
   */
  certificateRevisions(sinceMs?: number): Promise<CertificateRevision[]>;
  loadAccount(directoryUrl: string): Promise<AcmeAccount | undefined>;
  /** Inserts or replaces the account of `account.directoryUrl`. */
  saveAccount(account: AcmeAccount): Promise<void>;
  /**
   * Runs `body` while holding the lock called `name` for every server sharing the store (a
   * PostgreSQL advisory lock), so that one issuer at a time orders for a domain. Callers re-read
   * the store inside `body`: another server may have done the work meanwhile.
   */
  withLock<T>(name: string, body: () => Promise<T>): Promise<T>;
}
