/**
 * In-process mutual exclusion by name: `run(name, body)` starts `body` once every earlier body
 * for the same name has settled. Entries are dropped when their queue empties, so memory is
 * bounded by the names in use.
 */
export interface KeyedLock {
  run<T>(name: string, body: () => Promise<T>): Promise<T>;
}

export function createKeyedLock(): KeyedLock {
  const tails = new Map<string, Promise<unknown>>();
  return {
    run<T>(name: string, body: () => Promise<T>): Promise<T> {
      const previous = tails.get(name) ?? Promise.resolve();
      const result = previous.then(body, body);
      const tail = result.then(
        () => undefined,
        () => undefined,
      );
      tails.set(name, tail);
      void tail.then(() => {
        if (tails.get(name) === tail) tails.delete(name);
      });
      return result;
    },
  };
}
