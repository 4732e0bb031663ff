export interface RequestRateLimiterOptions {
  /** Tokens added per second: the sustained request rate of one key. */
  readonly ratePerSecond: number;
  /** Bucket size: requests one key may make at once after being idle. */
  readonly burst: number;
  /** Most keys held at once; past it the least recently seen key is forgotten. */
  readonly maxKeys?: number;
  readonly now?: () => number;
}

export type RateDecision = { readonly ok: true } | { readonly ok: false; readonly retryAfterSeconds: number };

interface Bucket {
  tokens: number;
  updatedAtMs: number;
}

const DEFAULT_MAX_KEYS = 100_000;

/**
 * A token bucket per key (the visitor's address). A bucket that has refilled completely is no
 * different from a missing one, so `sweep` drops those: memory follows the keys active within
 * the last `burst / ratePerSecond` seconds, and `maxKeys` caps it whatever happens.
 */
export class RequestRateLimiter {
  readonly #ratePerMs: number;
  readonly #burst: number;
  readonly #maxKeys: number;
  readonly #now: () => number;
  /** In order of last use: the first entry is the least recently seen key. */
  readonly #buckets = new Map<string, Bucket>();

  constructor(options: RequestRateLimiterOptions) {
    this.#ratePerMs = options.ratePerSecond / 1000;
    this.#burst = Math.max(1, options.burst);
    this.#maxKeys = options.maxKeys ?? DEFAULT_MAX_KEYS;
    this.#now = options.now ?? Date.now;
  }

  /** Takes one token for `key`, or says how long until one is there. */
  take(key: string): RateDecision {
    const nowMs = this.#now();
    const bucket = this.#buckets.get(key) ?? { tokens: this.#burst, updatedAtMs: nowMs };
    this.#refill(bucket, nowMs);
    this.#buckets.delete(key);
    this.#buckets.set(key, bucket);
    if (this.#buckets.size > this.#maxKeys) this.#evictOldest();
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { ok: true };
    }
    const waitMs = (1 - bucket.tokens) / this.#ratePerMs;
    return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil(waitMs / 1000)) };
  }

  /** Forgets every key whose bucket is full again. */
  sweep(): void {
    const nowMs = this.#now();
    for (const [key, bucket] of this.#buckets) {
      this.#refill(bucket, nowMs);
      if (bucket.tokens >= this.#burst) this.#buckets.delete(key);
    }
  }

  get size(): number {
    return this.#buckets.size;
  }

  #refill(bucket: Bucket, nowMs: number): void {
    const elapsedMs = Math.max(0, nowMs - bucket.updatedAtMs);
    bucket.tokens = Math.min(this.#burst, bucket.tokens + elapsedMs * this.#ratePerMs);
    bucket.updatedAtMs = nowMs;
  }

  #evictOldest(): void {
    const oldest = this.#buckets.keys().next();
    if (!oldest.done) this.#buckets.delete(oldest.value);
  }
}
