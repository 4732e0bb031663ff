export interface BackoffOptions {
  readonly initialMs: number;
  readonly maxMs: number;
  /** A connection that stayed up this long resets the delay to `initialMs`. */
  readonly healthyAfterMs: number;
  readonly random?: () => number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 1_000, maxMs: 30_000, healthyAfterMs: 60_000 };

/**
 * Reconnect delays: exponential from `initialMs` doubling to `maxMs`, each drawn uniformly from
 * the upper half of its step ("equal jitter") so that clients of a restarted server spread out.
 */
export class Backoff {
  readonly #options: BackoffOptions;
  #attempt = 0;

  constructor(options: BackoffOptions = DEFAULT_BACKOFF) {
    this.#options = options;
  }

  /** The delay before the next attempt, given how long the last connection lasted. */
  next(lastUptimeMs: number): number {
    if (lastUptimeMs >= this.#options.healthyAfterMs) this.#attempt = 0;
    const step = Math.min(this.#options.maxMs, this.#options.initialMs * 2 ** this.#attempt);
    this.#attempt = Math.min(this.#attempt + 1, 30);
    const random = this.#options.random ?? Math.random;
    return Math.round(step / 2 + (random() * step) / 2);
  }

  reset(): void {
    this.#attempt = 0;
  }
}
