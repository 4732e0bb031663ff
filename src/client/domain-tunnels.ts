import { samePlan, type DomainPlan } from "../config/domain-plan.js";
import { TunnelClient, type TunnelClientOptions } from "./tunnel-client.js";

/** What a reload did to each domain, by name. */
export interface ReloadSummary {
  readonly added: readonly string[];
  readonly removed: readonly string[];
  readonly changed: readonly string[];
  readonly unchanged: readonly string[];
}

export interface DomainTunnelsOptions {
  /** Everything of a tunnel but its domain, key and services (shared by all domains). */
  readonly tunnelOptions: (plan: DomainPlan) => TunnelClientOptions;
  readonly shutdownTimeoutMs: number;
}

/**
 * The tunnels of every domain one client serves, one TunnelClient each, keyed by domain.
 * `apply` moves to a new list of domains touching only what changed: a domain whose plan is the
 * same keeps its tunnel and its in-flight requests; a removed or changed one drains first.
 */
export class DomainTunnels {
  readonly #options: DomainTunnelsOptions;
  readonly #running = new Map<string, { plan: DomainPlan; tunnel: TunnelClient }>();

  constructor(options: DomainTunnelsOptions) {
    this.#options = options;
  }

  get tunnels(): ReadonlyMap<string, TunnelClient> {
    return new Map([...this.#running].map(([domain, entry]) => [domain, entry.tunnel]));
  }

  async apply(plans: readonly DomainPlan[]): Promise<ReloadSummary> {
    const wanted = new Map(plans.map((plan) => [plan.domain, plan]));
    const summary = {
      added: [] as string[],
      removed: [] as string[],
      changed: [] as string[],
      unchanged: [] as string[],
    };
    const stopping: Array<Promise<void>> = [];
    for (const [domain, entry] of this.#running) {
      const plan = wanted.get(domain);
      if (plan && samePlan(plan, entry.plan)) {
        summary.unchanged.push(domain);
        continue;
      }
      (plan ? summary.changed : summary.removed).push(domain);
      this.#running.delete(domain);
      stopping.push(entry.tunnel.stop(this.#options.shutdownTimeoutMs));
    }
    // The old tunnel of a changed domain drains before its new one connects, so that no
    // request reaches the old services once the new tunnel is up.
    await Promise.all(stopping);
    for (const plan of plans) {
      if (this.#running.has(plan.domain)) continue;
      if (!summary.changed.includes(plan.domain)) summary.added.push(plan.domain);
      const tunnel = new TunnelClient(this.#options.tunnelOptions(plan));
      this.#running.set(plan.domain, { plan, tunnel });
      tunnel.start();
    }
    return summary;
  }

  async stop(): Promise<void> {
    const entries = [...this.#running.values()];
    this.#running.clear();
    await Promise.all(entries.map((entry) => entry.tunnel.stop(this.#options.shutdownTimeoutMs)));
  }
}
