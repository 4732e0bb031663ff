/**
 * Callers waiting for something to appear under a key (a tunnel of a domain): `wait` resolves
 * true when `wake(key)` is called within `timeoutMs`, false after it or once `signal` aborts;
 * nothing is kept for a key once its last waiter is gone, and no timer outlives its waiter.
 */
export class KeyedWaiters {
  readonly #waiting = new Map<string, Set<() => void>>();
  #size = 0;

  /** Waiters of every key (tests and gauges). */
  get size(): number {
    return this.#size;
  }

  wait(key: string, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    if (signal?.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      let waiters = this.#waiting.get(key);
      if (!waiters) this.#waiting.set(key, (waiters = new Set()));
      const done = (found: boolean) => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", abort);
        waiters.delete(wake);
        this.#size--;
        if (waiters.size === 0) this.#waiting.delete(key);
        resolve(found);
      };
      const wake = () => done(true);
      const abort = () => done(false);
      const timer = setTimeout(abort, timeoutMs);
      signal?.addEventListener("abort", abort, { once: true });
      waiters.add(wake);
      this.#size++;
    });
  }

  /** Resolves every current waiter of `key` with true. */
  wake(key: string): void {
    for (const wake of [...(this.#waiting.get(key) ?? [])]) wake();
  }
}
