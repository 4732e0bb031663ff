import type { Logger } from "../../../lib/logger.js";
import type { CertificateStore } from "./certificate-store.js";

export interface CertificatePickUpOptions {
  readonly store: CertificateStore;
  /**
   * Pause between two looks at the store when nothing asks for one: the safety net under the
   * store-change signal that asks for a look as soon as another server stored a certificate.
   */
  readonly intervalMs: number;
  /** Called for each domain whose stored certificate was written since the last look. */
  readonly onChanged: (domain: string) => Promise<void>;
  readonly logger: Logger;
}

export interface CertificateLook {
  /**
   * Every stored revision instead of the recent ones: after signals may have been lost (a
   * reconnected listener), so that a writer whose clock lags beyond the skew window is seen too.
   */
  readonly full?: boolean;
}

export interface CertificatePickUp {
  /** Records what the store holds now, without reporting it; call before loading the certificates. */
  baseline(): Promise<void>;
  /**
   * Looks now (also run by the timer); resolves when every change was handled. A call while a
   * look runs queues one more look after it (however many calls came), since the running one
   * may have read the store before the write that prompted the call.
   */
  poll(look?: CertificateLook): Promise<void>;
  stop(): void;
}

/**
 * `updated_at` is written with the writer's clock; rows are asked for from this long before the
 * latest value seen, so that a server whose clock lags by less than this is not missed.
 */
const CLOCK_SKEW_WINDOW_MS = 5 * 60 * 1000;

/**
 * Notices certificates written to the store by another server of the gateway (an order or a
 * renewal) by reading `certificates.updated_at` (domain and timestamp only: no PEM unless a row
 * changed), when asked (the store-change signal) and every `intervalMs`. A change is a different
 * `updated_at` for a domain, not a later one, so clocks are never compared across servers except
 * through the skew window. Every server's own writes are reported too; the caller ignores a
 * certificate it already serves. A change whose handling failed is reported again by the next
 * look.
 */
export function createCertificatePickUp(options: CertificatePickUpOptions): CertificatePickUp {
  const { store, logger } = options;
  const known = new Map<string, number>();
  let latestMs: number | undefined;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let running: Promise<void> | undefined;
  let queued: { full: boolean; done: Promise<void>; resolve: () => void } | undefined;

  async function look(full: boolean): Promise<string[]> {
    const since = full || latestMs === undefined ? undefined : latestMs - CLOCK_SKEW_WINDOW_MS;
    const changed: string[] = [];
    for (const { domain, updatedAtMs } of await store.certificateRevisions(since)) {
      if (known.get(domain) !== updatedAtMs) changed.push(domain);
      known.set(domain, updatedAtMs);
      latestMs = Math.max(latestMs ?? updatedAtMs, updatedAtMs);
    }
    return changed;
  }

  async function lookOnce(full: boolean): Promise<void> {
    let changed: string[];
    try {
      changed = await look(full);
    } catch (error) {
      logger.warn({ err: error }, "could not look for certificates written by other servers");
      return;
    }
    for (const domain of changed) {
      if (stopped) return;
      await options.onChanged(domain).catch((error: unknown) => {
        known.delete(domain);
        logger.error({ err: error, domain }, "could not pick up a stored certificate");
      });
    }
  }

  function arm(): void {
    clearTimeout(timer);
    if (stopped) return;
    timer = setTimeout(() => void pickUp.poll(), options.intervalMs).unref();
  }

  /** Runs one look, then the queued one if any; the timer counts from the last look. */
  function begin(full: boolean): Promise<void> {
    clearTimeout(timer);
    running = lookOnce(full).finally(() => {
      running = undefined;
      const next = queued;
      queued = undefined;
      if (next && !stopped) void begin(next.full).then(next.resolve);
      else {
        next?.resolve();
        arm();
      }
    });
    return running;
  }

  const pickUp: CertificatePickUp = {
    async baseline() {
      await look(true).catch((error: unknown) => {
        logger.warn({ err: error }, "could not read certificate revisions; the first poll reads them all");
      });
      arm();
    },
    poll(request = {}) {
      if (stopped) return Promise.resolve();
      if (!running) return begin(request.full === true);
      if (!queued) {
        let resolve = () => {};
        const done = new Promise<void>((settle) => (resolve = settle));
        queued = { full: false, done, resolve };
      }
      queued.full ||= request.full === true;
      return queued.done;
    },
    stop() {
      stopped = true;
      clearTimeout(timer);
      queued?.resolve();
      queued = undefined;
    },
  };
  return pickUp;
}
