import type { ServiceRoute } from "../../protocol/handshake.js";
import { longestPrefixMatch } from "../../protocol/path-prefix.js";
import type { SessionDirectory, SessionInfo } from "./session-directory.js";
import type { TunnelSession } from "./session.js";
import { KeyedWaiters } from "../../lib/keyed-waiters.js";

/** Where a request goes: a live session and the service (of that session) that serves the path. */
export interface TunnelRoute {
  readonly session: TunnelSession;
  readonly service: ServiceRoute;
}

/** The proxy's view of the registry (STYLE.md rule 3). */
export interface TunnelLookup {
  /** Best route for `domain` (already normalized) and `path`, skipping sessions in `exclude`. */
  route(domain: string, path: string, exclude?: ReadonlySet<TunnelSession>): TunnelRoute | undefined;
  /** Whether any active session serves `domain`. */
  hasTunnel(domain: string): boolean;
  /**
   * Resolves true once an active session serves `domain`, false after `timeoutMs` without one or
   * once `signal` aborts (the wait and its timer are then gone).
   */
  waitForTunnel(domain: string, timeoutMs: number, signal?: AbortSignal): Promise<boolean>;
}

/**
 * Live sessions by domain. Several clients may serve one domain: a request goes to the session
 * whose services hold the longest prefix of its path, and among equals to the one with the
 * fewest streams in flight. Draining and closed sessions get no new requests.
 */
export class SessionRegistry implements TunnelLookup, SessionDirectory {
  readonly #byDomain = new Map<string, Set<TunnelSession>>();
  /** Requests waiting for a domain's first tunnel: woken when one is added. */
  readonly #waiting = new KeyedWaiters();
  #count = 0;
  readonly #onChange: (() => void) | undefined;

  /** `onChange`: told after each session added or removed (the server registry's mirror). */
  constructor(options: { readonly onChange?: () => void } = {}) {
    this.#onChange = options.onChange;
  }

  get size(): number {
    return this.#count;
  }

  add(session: TunnelSession): void {
    let sessions = this.#byDomain.get(session.domain);
    if (!sessions) this.#byDomain.set(session.domain, (sessions = new Set()));
    sessions.add(session);
    this.#count++;
    this.#waiting.wake(session.domain);
    this.#onChange?.();
  }

  remove(session: TunnelSession): void {
    const sessions = this.#byDomain.get(session.domain);
    if (!sessions?.delete(session)) return;
    this.#count--;
    if (sessions.size === 0) this.#byDomain.delete(session.domain);
    this.#onChange?.();
  }

  route(domain: string, path: string, exclude?: ReadonlySet<TunnelSession>): TunnelRoute | undefined {
    const sessions = this.#byDomain.get(domain);
    if (!sessions) return undefined;
    let best: TunnelRoute | undefined;
    let bestPrefix = -1;
    for (const session of sessions) {
      if (session.state.t !== "active" || exclude?.has(session)) continue;
      const service = longestPrefixMatch(session.services, path);
      if (!service) continue;
      const length = service.pathPrefix.length;
      if (
        length > bestPrefix ||
        (length === bestPrefix && best && session.inFlight < best.session.inFlight)
      ) {
        best = { session, service };
        bestPrefix = length;
      }
    }
    return best;
  }

  hasTunnel(domain: string): boolean {
    for (const session of this.#byDomain.get(domain) ?? []) if (session.state.t === "active") return true;
    return false;
  }

  waitForTunnel(domain: string, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    if (this.hasTunnel(domain)) return Promise.resolve(true);
    return this.#waiting.wait(domain, timeoutMs, signal);
  }

  /** Requests waiting for a domain's first tunnel (tests). */
  get waiting(): number {
    return this.#waiting.size;
  }

  list(filter?: { readonly domain?: string }): SessionInfo[] {
    const out: SessionInfo[] = [];
    for (const [domain, sessions] of this.#byDomain) {
      if (filter?.domain !== undefined && filter.domain !== domain) continue;
      for (const session of sessions) out.push(session.info());
    }
    return out;
  }

  closeDomain(domain: string, reason: string): number {
    const sessions = [...(this.#byDomain.get(domain) ?? [])];
    for (const session of sessions) session.close(reason);
    return sessions.length;
  }

  /** Every session, e.g. to drain them all at shutdown. */
  all(): TunnelSession[] {
    return [...this.#byDomain.values()].flatMap((sessions) => [...sessions]);
  }
}
