import type { Logger } from "../lib/logger.js";
import type { DomainChange } from "./store/domain-repository.js";

/** A registered domain as the store holds it: the name and the digest of its client API key. */
export interface StoredDomain {
  readonly domain: string;
  readonly keyDigest: string;
}

export interface RegisteredDomainsOptions {
  /**
   * A difference a reload found: a change made elsewhere (another server sharing the store, or
   * one this server missed while the store was away). Not called for this server's own changes.
   */
  readonly onChanged?: (change: DomainChange) => void;
}

/**
 * The set of registered domains, in memory, so that routing never waits for the store: loaded
 * at start, updated at once on this server's own changes, and reloaded when the store signals a
 * change (store-changes.ts) and periodically as a safety net, so that changes made through
 * another server sharing the store arrive too. A reload compares what it read with what is
 * known: domains that appeared, disappeared, or whose key digest changed are reported to
 * `onChanged`, so that this server closes the tunnels of a domain removed or rotated elsewhere.
 */
export class RegisteredDomains {
  /** Domain → digest of its key; undefined when this server changed it and has not reloaded since. */
  #domains = new Map<string, string | undefined>();
  #timer: NodeJS.Timeout | undefined;
  /** Counts this server's own changes, so that a reload that raced one is dropped. */
  #changes = 0;
  readonly #onChanged: (change: DomainChange) => void;

  constructor(options: RegisteredDomainsOptions = {}) {
    this.#onChanged = options.onChanged ?? (() => {});
  }

  has(domain: string): boolean {
    return this.#domains.has(domain);
  }

  get size(): number {
    return this.#domains.size;
  }

  /** This server registered `domain` (or rotated its key): the next reload learns the digest. */
  add(domain: string): void {
    this.#changes += 1;
    this.#domains.set(domain, undefined);
  }

  /**
   * The store just confirmed `domain` (a tunnel authenticated against it) though a reload may not
   * have brought it yet: known from now on, so that a later reload that misses it reports it
   * removed (and its tunnels close). Known already: nothing changes, no reload is dropped.
   */
  confirm(domain: string): void {
    if (!this.#domains.has(domain)) this.add(domain);
  }

  delete(domain: string): void {
    this.#changes += 1;
    this.#domains.delete(domain);
  }

  /** Sets the whole set, reporting nothing (start-up). */
  replaceAll(domains: Iterable<StoredDomain>): void {
    this.#domains = new Map([...domains].map((d) => [d.domain, d.keyDigest]));
  }

  /**
   * Reloads every `intervalMs`; a failed reload keeps the last known set and is logged. A reload
   * during which this server registered or removed a domain is dropped: it may have read the
   * store before that change committed (and would undo it until the next reload), and the next
   * one reads after it.
   */
  startRefreshing(load: () => Promise<StoredDomain[]>, intervalMs: number, logger: Logger): void {
    this.#timer = setInterval(() => void this.refresh(load, logger), intervalMs).unref();
  }

  /** One reload (see startRefreshing). */
  async refresh(load: () => Promise<StoredDomain[]>, logger: Logger): Promise<void> {
    const changesBefore = this.#changes;
    let stored: StoredDomain[];
    try {
      stored = await load();
    } catch (error) {
      logger.warn({ err: (error as Error).message }, "could not refresh registered domains");
      return;
    }
    if (this.#changes !== changesBefore) return;
    const known = this.#domains;
    this.replaceAll(stored);
    const changes: DomainChange[] = [];
    for (const { domain, keyDigest } of stored) {
      if (!known.has(domain)) changes.push({ type: "registered", domain });
      else {
        const before = known.get(domain);
        if (before !== undefined && before !== keyDigest) changes.push({ type: "key_rotated", domain });
      }
    }
    for (const domain of known.keys())
      if (!this.#domains.has(domain)) changes.push({ type: "unregistered", domain });
    for (const change of changes) this.#onChanged(change);
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
