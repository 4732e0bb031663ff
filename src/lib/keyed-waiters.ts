/**
 * Callers waiting for something to appear under a key (a tunnel of a domain): `wait` resolves
 * true when `wake(key)` is called within `timeoutMs`, false after it; nothing is kept for a key
 * once its last waiter is gone.
 */
export class KeyedWaiters {
  readonly #waiting = new Map<string, Set<() => void>>();

  wait(key: string, timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      let waiters = this.#waiting.get(key);
      if (!waiters) this.#waiting.set(key, (waiters = new Set()));
      const done = (found: boolean) => {
        clearTimeout(timer);
        waiters.delete(wake);
        if (waiters.size === 0) this.#waiting.delete(key);
        resolve(found);
      };
      const wake = () => done(true);
      const timer = setTimeout(() => done(false), timeoutMs);
      waiters.add(wake);
    });
  }

  /** Resolves every current waiter of `key` with true. */
  wake(key: string): void {
    for (const wake of [...(this.#waiting.get(key) ?? [])]) wake();
  }
}
