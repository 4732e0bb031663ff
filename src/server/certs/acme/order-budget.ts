/** A limit of `max` orders within any `windowMs`; `max` 0 means no limit. */
export interface OrderWindow {
  readonly windowMs: number;
  readonly max: number;
  /** Names the limit in refusals, e.g. "HOP_SUBDOMAIN_CERT_ORDERS_PER_HOUR". */
  readonly name: string;
}

/** Whether an order may go to the CA now; each allowed order counts against every window. */
export interface OrderBudget {
  /** Undefined when allowed (and counted), else why not and until when. */
  take(nowMs?: number): { readonly reason: string; readonly retryAtMs: number } | undefined;
}

/**
 * Sliding-window order limits, as the CA counts its own (Let's Encrypt: new orders per account per
 * 3 hours, certificates per registered domain per week; docs/certificates.md). The timestamps of
 * the largest window are kept, so memory is bounded by the largest `max`.
 */
export function createOrderBudget(windows: readonly OrderWindow[]): OrderBudget {
  const active = windows.filter((w) => w.max > 0);
  const longestMs = Math.max(0, ...active.map((w) => w.windowMs));
  const keep = Math.max(0, ...active.map((w) => w.max));
  let taken: number[] = [];
  return {
    take(nowMs = Date.now()) {
      taken = taken.filter((atMs) => atMs > nowMs - longestMs).slice(-keep);
      for (const window of active) {
        const inWindow = taken.filter((atMs) => atMs > nowMs - window.windowMs);
        if (inWindow.length >= window.max) {
          const oldest = inWindow[inWindow.length - window.max] ?? nowMs;
          return {
            reason: `${window.max} certificate orders within ${durationText(window.windowMs)} reached (${window.name})`,
            retryAtMs: oldest + window.windowMs,
          };
        }
      }
      if (active.length > 0) taken.push(nowMs);
      return undefined;
    },
  };
}

function durationText(ms: number): string {
  if (ms >= 86_400_000) return `${ms / 86_400_000} days`;
  if (ms >= 3_600_000) return `${ms / 3_600_000} h`;
  return `${ms / 1000} s`;
}
