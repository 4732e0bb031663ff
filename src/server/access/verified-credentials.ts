import { createHash } from "node:crypto";

const DEFAULT_TTL_MS = 5 * 60_000;
const DEFAULT_MAX_ENTRIES = 1000;

/**
 * Basic-auth credentials that passed scrypt within the last `ttlMs`, so that a browser, which
 * sends them with every request, costs one scrypt per TTL rather than one per request (Caddy's
 * basic_auth caches the same way). Keys are SHA-256 digests of (stored hash, password): no
 * password is kept, and a replaced policy (new salts) matches none of the old entries.
 * Failures are never cached. At most `maxEntries`; the oldest go first.
 */
export class VerifiedCredentials {
  readonly #ttlMs: number;
  readonly #maxEntries: number;
  readonly #now: () => number;
  readonly #expiresAtMs = new Map<string, number>();

  constructor(options: { ttlMs?: number; maxEntries?: number; now?: () => number } = {}) {
    this.#ttlMs = options.ttlMs ?? DEFAULT_TTL_MS;
    this.#maxEntries = options.maxEntries ?? DEFAULT_MAX_ENTRIES;
    this.#now = options.now ?? Date.now;
  }

  has(storedHash: string, password: string): boolean {
    const key = keyOf(storedHash, password);
    const expiresAtMs = this.#expiresAtMs.get(key);
    if (expiresAtMs === undefined) return false;
    if (expiresAtMs > this.#now()) return true;
    this.#expiresAtMs.delete(key);
    return false;
  }

  add(storedHash: string, password: string): void {
    const key = keyOf(storedHash, password);
    this.#expiresAtMs.delete(key);
    this.#expiresAtMs.set(key, this.#now() + this.#ttlMs);
    if (this.#expiresAtMs.size > this.#maxEntries) {
      const oldest = this.#expiresAtMs.keys().next();
      if (!oldest.done) this.#expiresAtMs.delete(oldest.value);
    }
  }

  get size(): number {
    return this.#expiresAtMs.size;
  }
}

function keyOf(storedHash: string, password: string): string {
  return createHash("sha256").update(storedHash).update("\0").update(password, "utf8").digest("base64");
}
