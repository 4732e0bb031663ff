import { addressKey } from "./address-key.js";

/**
 * The seam the tunnel endpoint and the admin API see: ask before checking credentials, report
 * each failed check. Successes are not reported: they neither count nor wipe earlier failures,
 * so a holder of one valid key cannot interleave its logins to keep guessing other keys.
 */
export interface AuthLimiter {
  /** Milliseconds until `remoteAddress` may try again; 0 when it may try now. Cheap, no I/O. */
  retryAfterMs(remoteAddress: string): number;
  /** A wrong or missing credential from `remoteAddress`. */
  recordFailure(remoteAddress: string): void;
}

export interface AuthFailureLimiterOptions {
  /** Failures within `windowMs` that block an address; 0 turns the limiter off. */
  readonly maxFailures: number;
  readonly windowMs: number;
  /** How long a blocked address is refused; attempts while blocked do not extend it. */
  readonly blockMs: number;
  /** Addresses tracked at once; past it the least recently failing one is forgotten. */
  readonly maxTrackedAddresses?: number;
  readonly now?: () => number;
  /** Told once per block, with the address key (IPv6 as its /64) it applies to. */
  readonly onBlocked?: (addressKey: string, blockMs: number) => void;
}

/**
 * About 300 bytes per tracked address with 10 failures kept: 50,000 addresses stay under 16 MiB.
 * A flood from more distinct addresses than this is beyond what per-address limits can stop.
 */
export const DEFAULT_MAX_TRACKED_ADDRESSES = 50_000;

interface Entry {
  /** Times of the failures within the window, oldest first; at most `maxFailures`. */
  failuresAtMs: number[];
  blockedUntilMs: number;
}

/**
 * Counts failed authentications per source address (IPv6 per /64, see address-key.ts) in a
 * sliding window; `maxFailures` within `windowMs` block the address for `blockMs`. Memory is
 * bounded: entries with neither a live block nor a failure inside the window are swept at most
 * once per window, and the table never holds more than `maxTrackedAddresses`.
 */
export class AuthFailureLimiter implements AuthLimiter {
  readonly #options: AuthFailureLimiterOptions;
  readonly #now: () => number;
  readonly #maxTracked: number;
  /** In order of last failure (re-inserted on each), so the first entry is the stalest. */
  readonly #entries = new Map<string, Entry>();
  #lastSweepMs: number;

  constructor(options: AuthFailureLimiterOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#maxTracked = Math.max(1, options.maxTrackedAddresses ?? DEFAULT_MAX_TRACKED_ADDRESSES);
    this.#lastSweepMs = this.#now();
  }

  get enabled(): boolean {
    return this.#options.maxFailures > 0;
  }

  /** Addresses tracked now (blocked or with failures in the window, until the next sweep). */
  get trackedAddresses(): number {
    return this.#entries.size;
  }

  retryAfterMs(remoteAddress: string): number {
    if (!this.enabled) return 0;
    const entry = this.#entries.get(addressKey(remoteAddress));
    return entry ? Math.max(0, entry.blockedUntilMs - this.#now()) : 0;
  }

  recordFailure(remoteAddress: string): void {
    if (!this.enabled) return;
    const now = this.#now();
    const key = addressKey(remoteAddress);
    this.#sweep(now);
    const entry = this.#entries.get(key) ?? { failuresAtMs: [], blockedUntilMs: 0 };
    this.#entries.delete(key);
    if (this.#entries.size >= this.#maxTracked) this.#evictOne(now);
    this.#entries.set(key, entry);
    if (entry.blockedUntilMs > now) return; // failures already on their way when the block began
    const { maxFailures, windowMs, blockMs } = this.#options;
    entry.failuresAtMs = entry.failuresAtMs.filter((at) => now - at < windowMs);
    entry.failuresAtMs.push(now);
    if (entry.failuresAtMs.length < maxFailures) return;
    entry.failuresAtMs = [];
    entry.blockedUntilMs = now + blockMs;
    this.#options.onBlocked?.(key, blockMs);
  }

  /** Drops entries that no longer matter, at most once per window (O(n), so never per call). */
  #sweep(now: number): void {
    if (now - this.#lastSweepMs < this.#options.windowMs) return;
    this.#lastSweepMs = now;
    for (const [key, entry] of this.#entries) {
      const lastFailureMs = entry.failuresAtMs.at(-1) ?? Number.NEGATIVE_INFINITY;
      if (entry.blockedUntilMs <= now && now - lastFailureMs >= this.#options.windowMs)
        this.#entries.delete(key);
    }
  }

  /**
   * Makes room in a full table: the stalest entry that is not blocked among the first few, so a
   * flood of new addresses does not lift blocks; the stalest of all when those are all blocked.
   */
  #evictOne(now: number): void {
    let scanned = 0;
    for (const [key, entry] of this.#entries) {
      if (entry.blockedUntilMs <= now) return void this.#entries.delete(key);
      if (++scanned >= EVICTION_SCAN) break;
    }
    const stalest = this.#entries.keys().next();
    if (!stalest.done) this.#entries.delete(stalest.value);
  }
}

/** Entries looked at for an unblocked one to evict: bounded, so a full table costs O(1) per failure. */
const EVICTION_SCAN = 16;
