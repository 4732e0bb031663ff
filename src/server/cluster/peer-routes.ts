import type { ClientHttp2Stream, OutgoingHttpHeaders } from "node:http2";
import { KeyedWaiters } from "../../lib/keyed-waiters.js";

/** A live outbound peer link, as the relay uses it. */
export interface PeerTarget {
  /** Registry id of the peer (named by its verified certificate). */
  readonly id: string;
  /** Opens one relayed exchange (one HTTP/2 stream); undefined when the link just went down. */
  openExchange(headers: OutgoingHttpHeaders): ClientHttp2Stream | undefined;
}

/** The proxy's view of the other servers' tunnels (STYLE.md rule 3). */
export interface PeerLookup {
  /** A peer holding an active tunnel of `domain` (normalized), or undefined. */
  find(domain: string): PeerTarget | undefined;
  /**
   * Resolves true once a peer announces `domain`, false after `timeoutMs` without one or once
   * `signal` aborts (the wait and its timer are then gone).
   */
  waitFor(domain: string, timeoutMs: number, signal?: AbortSignal): Promise<boolean>;
}

/**
 * Which peer holds which domain, as each peer last announced over its link (docs/scale-out.md):
 * kept in memory only, replaced whole by each announcement, and dropped at once with the link.
 * Several peers holding one domain are taken in turn.
 */
export class PeerRoutes implements PeerLookup {
  readonly #domainsOf = new Map<PeerTarget, ReadonlySet<string>>();
  readonly #holders = new Map<string, PeerTarget[]>();
  readonly #waiting = new KeyedWaiters();
  #turn = 0;

  /** Replaces what `peer` holds. */
  announce(peer: PeerTarget, domains: ReadonlySet<string>): void {
    this.#domainsOf.set(peer, domains);
    this.#rebuild();
    for (const domain of domains) this.#waiting.wake(domain);
  }

  /** Forgets everything `peer` announced (its link is down). */
  drop(peer: PeerTarget): void {
    if (this.#domainsOf.delete(peer)) this.#rebuild();
  }

  find(domain: string): PeerTarget | undefined {
    const holders = this.#holders.get(domain);
    if (!holders) return undefined;
    return holders[this.#turn++ % holders.length];
  }

  has(domain: string): boolean {
    return this.#holders.has(domain);
  }

  waitFor(domain: string, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    if (this.#holders.has(domain)) return Promise.resolve(true);
    return this.#waiting.wait(domain, timeoutMs, signal);
  }

  /** Requests waiting for a peer to announce a domain (tests). */
  get waiting(): number {
    return this.#waiting.size;
  }

  /** Peer ids and the number of domains each announced (logs and tests). */
  summary(): Record<string, number> {
    return Object.fromEntries([...this.#domainsOf].map(([peer, domains]) => [peer.id, domains.size]));
  }

  #rebuild(): void {
    this.#holders.clear();
    for (const [peer, domains] of this.#domainsOf)
      for (const domain of domains) {
        const holders = this.#holders.get(domain);
        if (holders) holders.push(peer);
        else this.#holders.set(domain, [peer]);
      }
  }
}
