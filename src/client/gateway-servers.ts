import type { Logger } from "../lib/logger.js";
import { MAX_GATEWAY_SERVERS, parseServerList } from "./server-list.js";

export interface GatewayServersOptions {
  /** The configured server's https origin: always held, whatever the servers say. */
  readonly bootstrap: string;
  /** False: the client keeps to its configured server and ignores every list (opt-out). */
  readonly follow: boolean;
  readonly logger: Logger;
  readonly maxServers?: number;
}

/**
 * The servers of the gateway a client holds a tunnel to: its configured server (the bootstrap
 * and fallback) and the live servers the gateway last advertised (docs/scale-out.md). The list
 * last received from any server wins; listeners hear each change. A list a server sends is
 * validated and bounded (server-list.ts), so a hostile or broken server can make the client
 * dial at most `maxServers` well-formed https addresses, each verified like the configured one.
 */
export class GatewayServers {
  readonly #options: GatewayServersOptions;
  readonly #listeners = new Set<(servers: readonly string[]) => void>();
  #advertised: readonly string[] = [];

  constructor(options: GatewayServersOptions) {
    this.#options = options;
  }

  get bootstrap(): string {
    return this.#options.bootstrap;
  }

  /** Every server to hold a tunnel to, as https origins: the bootstrap first. */
  get wanted(): readonly string[] {
    return [this.#options.bootstrap, ...this.#advertised.filter((s) => s !== this.#options.bootstrap)];
  }

  subscribe(listener: (servers: readonly string[]) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * A server's list (`from`: its origin). `initial`: from a TunnelAccept, where an empty list
   * means the server does not advertise (ignored); a ServerList frame always applies.
   */
  advertised(entries: readonly string[], from: string, initial: boolean): void {
    if (!this.#options.follow || (initial && entries.length === 0)) return;
    const { origins, dropped } = parseServerList(entries, this.#options.maxServers ?? MAX_GATEWAY_SERVERS);
    if (dropped > 0) {
      this.#options.logger.warn(
        { from, dropped, kept: origins.length },
        "server advertised malformed or too many servers; dropped those",
      );
    }
    if (origins.join("\n") === this.#advertised.join("\n")) return;
    this.#advertised = origins;
    this.#options.logger.info({ from, servers: this.wanted }, "gateway servers");
    for (const listener of this.#listeners) listener(this.wanted);
  }
}
