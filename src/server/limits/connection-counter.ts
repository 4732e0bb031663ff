/**
 * Open connections per key, with a limit. A key's entry lives only while it has open
 * connections, so memory follows the number of open connections.
 */
export class ConnectionCounter {
  readonly #maxPerKey: number;
  readonly #open = new Map<string, number>();

  constructor(maxPerKey: number) {
    this.#maxPerKey = maxPerKey;
  }

  /** Counts a new connection; false when the key already held its limit before it. */
  opened(key: string): boolean {
    const count = this.#open.get(key) ?? 0;
    this.#open.set(key, count + 1);
    return count < this.#maxPerKey;
  }

  closed(key: string): void {
    const count = this.#open.get(key) ?? 0;
    if (count <= 1) this.#open.delete(key);
    else this.#open.set(key, count - 1);
  }

  /** Keys with at least one open connection. */
  get size(): number {
    return this.#open.size;
  }
}
