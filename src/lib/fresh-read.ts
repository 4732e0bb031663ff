/**
 * Coalesced reads that are never stale for the caller: `get()` resolves with the result of a
 * `read()` that STARTED after `get()` was called, however many callers there are. Every caller
 * that arrives before the next read starts shares it, and reads start at most once per
 * `minIntervalMs`, so the rate of `read()` is bounded by the interval whatever the rate of
 * `get()` (the price is up to `minIntervalMs` of latency). A failed read rejects its callers only.
 */
export interface FreshRead<T> {
  get(): Promise<T>;
}

export function createFreshRead<T>(read: () => Promise<T>, minIntervalMs: number): FreshRead<T> {
  let running: Promise<unknown> = Promise.resolve();
  let waiting: Promise<T> | undefined;
  let lastStartMs = Number.NEGATIVE_INFINITY;

  async function next(): Promise<T> {
    await running.catch(() => undefined);
    const delayMs = lastStartMs + minIntervalMs - Date.now();
    if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
    // From here on, a new caller needs a read that starts after this one.
    waiting = undefined;
    lastStartMs = Date.now();
    const result = read();
    running = result;
    return result;
  }

  return {
    get() {
      waiting ??= next();
      return waiting;
    },
  };
}
