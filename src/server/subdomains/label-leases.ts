/**
 * Who serves which label under a wildcard base domain (`demo.tunnel.example.com` under
 * `*.tunnel.example.com`), in this server's memory: first come, first served. A label is held
 * while any tunnel of its holder is open, and for `graceMs` after the last one closed so that the
 * same client (the same holder id: the instance id its tunnels present) gets it back when it
 * reconnects; then it is free. Several tunnels of one holder share a label (replacements after a
 * drain, high availability within one client).
 */
export interface LabelLeasesOptions {
  /** How long a label stays reserved for its holder after its last tunnel closed. */
  readonly graceMs: number;
  /** Labels one wildcard may hold at once (held or in grace); 0 = no limit. */
  readonly maxLabelsPerBase: number;
  /** A label became free (grace over, or its wildcard was removed). */
  readonly onReleased?: (hostname: string) => void;
}

/** One tunnel's hold on a label; `release()` is idempotent. */
export interface Lease {
  readonly hostname: string;
  release(): void;
}

export type ClaimResult =
  | { readonly ok: true; readonly lease: Lease }
  | { readonly ok: false; readonly reason: "label_taken" | "label_limit"; readonly message: string };

interface Held {
  readonly pattern: string;
  readonly holder: string;
  tunnels: number;
  graceTimer?: NodeJS.Timeout;
}

export class LabelLeases {
  readonly #options: LabelLeasesOptions;
  readonly #held = new Map<string, Held>();

  constructor(options: LabelLeasesOptions) {
    this.#options = options;
  }

  /** Whether `hostname` is held or reserved for a reconnect: requests for it are routed. */
  holds(hostname: string): boolean {
    return this.#held.has(hostname);
  }

  /** The holder of `hostname` (held or in grace), if any. */
  holderOf(hostname: string): string | undefined {
    return this.#held.get(hostname)?.holder;
  }

  /** Every label held here (or in grace): hostname → its wildcard and holder. */
  all(): Map<string, { readonly pattern: string; readonly holder: string }> {
    return new Map([...this.#held].map(([hostname, { pattern, holder }]) => [hostname, { pattern, holder }]));
  }

  /** Labels held (or in grace) under `pattern`, as hostnames. */
  hostnamesOf(pattern: string): string[] {
    return [...this.#held].filter(([, held]) => held.pattern === pattern).map(([hostname]) => hostname);
  }

  /** Takes `hostname` (under `pattern`) for `holder`, or says why not. */
  claim(hostname: string, pattern: string, holder: string): ClaimResult {
    let held = this.#held.get(hostname);
    if (held && held.holder !== holder) {
      const when = held.tunnels > 0 ? "by another client" : "for a reconnect of its client";
      return {
        ok: false,
        reason: "label_taken",
        message: `${hostname} is held ${when}; choose another label`,
      };
    }
    if (!held) {
      const max = this.#options.maxLabelsPerBase;
      if (max > 0 && this.hostnamesOf(pattern).length >= max) {
        return {
          ok: false,
          reason: "label_limit",
          message: `${pattern} already holds its limit of ${max} labels; retry later`,
        };
      }
      held = { pattern, holder, tunnels: 0 };
      this.#held.set(hostname, held);
    }
    clearTimeout(held.graceTimer);
    held.graceTimer = undefined;
    held.tunnels++;
    const entry = held;
    let released = false;
    return {
      ok: true,
      lease: {
        hostname,
        release: () => {
          if (released) return;
          released = true;
          this.#releaseOne(hostname, entry);
        },
      },
    };
  }

  /** Frees every label of `pattern` at once (the wildcard was unregistered or its key rotated). */
  dropPattern(pattern: string): string[] {
    const hostnames = this.hostnamesOf(pattern);
    for (const hostname of hostnames) this.#free(hostname);
    return hostnames;
  }

  /** Frees `hostname` at once (it was registered as a domain of its own); its tunnels' leases lapse. */
  drop(hostname: string): boolean {
    const held = this.#held.has(hostname);
    this.#free(hostname);
    return held;
  }

  stop(): void {
    for (const held of this.#held.values()) clearTimeout(held.graceTimer);
    this.#held.clear();
  }

  #releaseOne(hostname: string, held: Held): void {
    if (this.#held.get(hostname) !== held) return;
    held.tunnels--;
    if (held.tunnels > 0) return;
    if (this.#options.graceMs <= 0) return this.#free(hostname);
    held.graceTimer = setTimeout(() => this.#free(hostname), this.#options.graceMs).unref();
  }

  #free(hostname: string): void {
    const held = this.#held.get(hostname);
    if (!held) return;
    clearTimeout(held.graceTimer);
    this.#held.delete(hostname);
    this.#options.onReleased?.(hostname);
  }
}
