/**
 * Bounds the password hashing a flood of guesses can cause: at most `maxConcurrent` hashes run
 * at once (each holds one libuv thread pool thread and its scrypt memory), at most `maxQueued`
 * wait for a turn, and anything beyond is refused at once (the caller answers 503) instead of
 * piling up. Work is run in arrival order.
 */
export class HashWorkQueue {
  readonly #maxConcurrent: number;
  readonly #maxQueued: number;
  readonly #waiting: Array<() => void> = [];
  #running = 0;

  constructor(options: { readonly maxConcurrent: number; readonly maxQueued: number }) {
    this.#maxConcurrent = Math.max(1, options.maxConcurrent);
    this.#maxQueued = Math.max(0, options.maxQueued);
  }

  get running(): number {
    return this.#running;
  }

  get queued(): number {
    return this.#waiting.length;
  }

  /** Runs `work` when a slot is free; undefined (nothing runs) when slots and queue are full. */
  run<T>(work: () => Promise<T>): Promise<T> | undefined {
    if (this.#running >= this.#maxConcurrent && this.#waiting.length >= this.#maxQueued) return undefined;
    return this.#acquire().then(async () => {
      try {
        return await work();
      } finally {
        this.#release();
      }
    });
  }

  #acquire(): Promise<void> {
    if (this.#running < this.#maxConcurrent) {
      this.#running += 1;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  /** Hands the slot straight to the next waiter, or frees it. */
  #release(): void {
    const next = this.#waiting.shift();
    if (next) next();
    else this.#running -= 1;
  }
}
