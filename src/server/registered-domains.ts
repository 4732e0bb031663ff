import type { Logger } from "../lib/logger.js";

/**
 * The set of registered domains, in memory, so that routing never waits for the store: loaded
 * at start, updated at once on this server's own changes, and refreshed periodically so that
 * changes made through another server sharing the store arrive too.
 */
export class RegisteredDomains {
  #domains = new Set<string>();
  #timer: NodeJS.Timeout | undefined;

  has(domain: string): boolean {
    return this.#domains.has(domain);
  }

  get size(): number {
    return this.#domains.size;
  }

  add(domain: string): void {
    this.#domains.add(domain);
  }

  delete(domain: string): void {
    this.#domains.delete(domain);
  }

  replaceAll(domains: Iterable<string>): void {
    this.#domains = new Set(domains);
  }

  /** Reloads every `intervalMs`; a failed reload keeps the last known set and is logged. */
  startRefreshing(load: () => Promise<string[]>, intervalMs: number, logger: Logger): void {
    this.#timer = setInterval(() => {
      load().then(
        (domains) => this.replaceAll(domains),
        (error: unknown) =>
          logger.warn({ err: (error as Error).message }, "could not refresh registered domains"),
      );
    }, intervalMs).unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
