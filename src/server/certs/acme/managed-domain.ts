import type { SecureContext } from "node:tls";
import {
  describeCertificate,
  secureContextOf,
  type CertificateFacts,
  type CertificatePair,
} from "../certificate-pair.js";

/** Certificate state of one domain as the admin API shows it. */
export type CertificateStatus =
  | { readonly state: "pending" }
  | {
      readonly state: "issued";
      readonly notAfterMs: number;
      /** Set while renewal is failing: the CA's (or resolver's) reason and the next attempt. */
      readonly renewalFailure?: { readonly reason: string; readonly nextRetryMs: number };
    }
  | { readonly state: "failed"; readonly reason: string; readonly nextRetryMs: number };

export interface ServedCertificate {
  readonly pair: CertificatePair;
  readonly facts: CertificateFacts;
  readonly context: SecureContext;
}

/** Who started an order: handshakes wait only for orders that a handshake started. */
export type OrderOrigin = "handshake" | "background";

/** The manager's record of one domain; owned by acme-certificate-manager.ts. */
export interface ManagedDomain {
  served?: ServedCertificate;
  /** Consecutive failures since the last certificate was served (renewal-policy.ts). */
  failure?: {
    readonly reason: string;
    readonly nextRetryMs: number;
    readonly count: number;
    /** When recent orders that reached the CA failed, oldest first (at most `maxFailuresPerHour`). */
    readonly recentMs: readonly number[];
  };
  order?: { readonly done: Promise<void>; readonly origin: OrderOrigin; readonly startedMs: number };
  /** Renewal or retry timer. */
  timer?: NodeJS.Timeout;
}

export function servedCertificate(pair: CertificatePair): ServedCertificate {
  return { pair, facts: describeCertificate(pair.certificatePem), context: secureContextOf(pair) };
}

export function statusOf(entry: ManagedDomain): CertificateStatus {
  const { served, failure } = entry;
  if (served) {
    const base = { state: "issued", notAfterMs: served.facts.notAfterMs } as const;
    return failure
      ? { ...base, renewalFailure: { reason: failure.reason, nextRetryMs: failure.nextRetryMs } }
      : base;
  }
  if (failure) return { state: "failed", reason: failure.reason, nextRetryMs: failure.nextRetryMs };
  return { state: "pending" };
}
