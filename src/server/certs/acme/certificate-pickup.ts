import type { Logger } from "../../../lib/logger.js";
import type { CertificateStore } from "./certificate-store.js";

export interface CertificatePickUpOptions {
  readonly store: CertificateStore;
  /** Pause between two looks at the store. */
  readonly intervalMs: number;
  /** Called for each domain whose stored certificate was written since the last look. */
  readonly onChanged: (domain: string) => Promise<void>;
  readonly logger: Logger;
}

export interface CertificatePickUp {
  /** Records what the store holds now, without reporting it; call before loading the certificates. */
  baseline(): Promise<void>;
  /** Looks now (also run by the timer); resolves when every change was handled. */
  poll(): Promise<void>;
  stop(): void;
}

/**
 * `updated_at` is written with the writer's clock; rows are asked for from this long before the
 * latest value seen, so that a server whose clock lags by less than this is not missed.
 */
const CLOCK_SKEW_WINDOW_MS = 5 * 60 * 1000;

/**
 * Notices certificates written to the store by another server of the gateway (an order or a
 * renewal) by polling `certificates.updated_at` (domain and timestamp only: no PEM unless a row
 * changed). A change is a different `updated_at` for a domain, not a later one, so clocks are
 * never compared across servers except through the skew window. Every server's own writes are
 * reported too; the caller ignores a certificate it already serves.
 */
export function createCertificatePickUp(options: CertificatePickUpOptions): CertificatePickUp {
  const { store, logger } = options;
  const known = new Map<string, number>();
  let latestMs: number | undefined;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let polling: Promise<void> | undefined;

  async function look(): Promise<string[]> {
    const since = latestMs === undefined ? undefined : latestMs - CLOCK_SKEW_WINDOW_MS;
    const changed: string[] = [];
    for (const { domain, updatedAtMs } of await store.certificateRevisions(since)) {
      if (known.get(domain) !== updatedAtMs) changed.push(domain);
      known.set(domain, updatedAtMs);
      latestMs = Math.max(latestMs ?? updatedAtMs, updatedAtMs);
    }
    return changed;
  }

  async function pollOnce(): Promise<void> {
    let changed: string[];
    try {
      changed = await look();
    } catch (error) {
      logger.warn({ err: error }, "could not look for certificates written by other servers");
      return;
    }
    for (const domain of changed) {
      if (stopped) return;
      await options.onChanged(domain).catch((error: unknown) => {
        logger.error({ err: error, domain }, "could not pick up a stored certificate");
      });
    }
  }

  function arm(): void {
    if (stopped) return;
    timer = setTimeout(() => void pickUp.poll().finally(arm), options.intervalMs).unref();
  }

  const pickUp: CertificatePickUp = {
    async baseline() {
      await look().catch((error: unknown) => {
        logger.warn({ err: error }, "could not read certificate revisions; the first poll reads them all");
      });
      arm();
    },
    poll() {
      polling ??= pollOnce().finally(() => (polling = undefined));
      return polling;
    },
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
  return pickUp;
}
