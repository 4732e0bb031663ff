import type { Logger } from "../lib/logger.js";

/**
 * The set of registered domains, in memory, so that routing never waits for the store: loaded
 * at start, updated at once on this server's own changes, and refreshed periodically so that
 * changes made through another server sharing the store arrive too.
 */
export class RegisteredDomains {
  #domains = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  /** Counts this server's own changes, so that a reload that raced one is dropped. */
  #changes = 0;

  has(domain: string): boolean {
    return this.#domains.has(domain);
  }

  get size(): number {
    return this.#domains.size;
  }

  add(domain: string): void {
    this.#changes += 1;
    this.#domains.add(domain);
  }

  delete(domain: string): void {
    this.#changes += 1;
    this.#domains.delete(domain);
  }

  replaceAll(domains: Iterable<string>): void {
    this.#domains = new Set(domains);
  }

  /**
   * Reloads every `intervalMs`; a failed reload keeps the last known set and is logged. A reload
   * during which this server registered or removed a domain is dropped: it may have read the
   * store before that change committed (and would undo it until the next reload), and the next
   * one reads after it.
   */
  startRefreshing(load: () => Promise<string[]>, intervalMs: number, logger: Logger): void {
    this.#timer = setInterval(() => void this.refresh(load, logger), intervalMs).unref();
  }

  /** One reload (see startRefreshing). */
  async refresh(load: () => Promise<string[]>, logger: Logger): Promise<void> {
    const changesBefore = this.#changes;
    try {
      const domains = await load();
      if (this.#changes === changesBefore) this.replaceAll(domains);
    } catch (error) {
      logger.warn({ err: (error as Error).message }, "could not refresh registered domains");
    }
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
