import { randomUUID } from "node:crypto";
import { samePlan, type DomainPlan } from "../config/domain-plan.js";
import { AUTO_DOMAIN } from "../lib/wildcard-domain.js";
import type { GatewayServers } from "./gateway-servers.js";
import { TunnelClient, type TunnelClientOptions, type TunnelClientStatus } from "./tunnel-client.js";

/** What a reload did to each domain, by name. */
export interface ReloadSummary {
  readonly added: readonly string[];
  readonly removed: readonly string[];
  readonly changed: readonly string[];
  readonly unchanged: readonly string[];
}

/** Which server of the gateway one tunnel goes to. */
export interface TunnelTarget {
  /** The server's https origin. */
  readonly server: string;
  /** Whether it is the configured server (the bootstrap, always held). */
  readonly bootstrap: boolean;
  /** This domain's instance id, the same on every server (a label is held by it). */
  readonly instanceId: string;
}

export interface DomainTunnelsOptions {
  /** Everything of one domain's tunnel to one server but its domain, key and services. */
  readonly tunnelOptions: (plan: DomainPlan, target: TunnelTarget) => TunnelClientOptions;
  readonly shutdownTimeoutMs: number;
  /** The servers to hold each domain's tunnels to: the configured one, and those advertised. */
  readonly servers: GatewayServers;
}

interface DomainEntry {
  readonly plan: DomainPlan;
  readonly instanceId: string;
  /** For `auto`: the label the first server assigned; the other servers are asked for it. */
  label: string | undefined;
  /** One tunnel per server, by origin; the bootstrap's is always there. */
  readonly tunnels: Map<string, TunnelClient>;
}

/**
 * The tunnels of every domain one client serves: for each domain, one TunnelClient per server
 * of the gateway (GatewayServers), so that every server serves every domain from a tunnel of
 * its own. `apply` moves to a new list of domains touching only what changed: a domain whose
 * plan is the same keeps its tunnels and their in-flight requests; a removed or changed one
 * drains first. A server leaving the list has its tunnels drained; one joining gets tunnels at
 * once. An `auto` domain connects to the other servers only once its label is known, and asks
 * each for that label with the same instance id.
 */
export class DomainTunnels {
  readonly #options: DomainTunnelsOptions;
  readonly #running = new Map<string, DomainEntry>();
  /** Tunnels to servers no longer listed, still draining. */
  readonly #retiring = new Set<Promise<void>>();
  readonly #unsubscribe: () => void;

  constructor(options: DomainTunnelsOptions) {
    this.#options = options;
    this.#unsubscribe = options.servers.subscribe(() => {
      for (const entry of this.#running.values()) this.#reconcile(entry);
    });
  }

  /** Each domain's tunnel to the configured server. */
  get tunnels(): ReadonlyMap<string, TunnelClient> {
    const bootstrap = this.#options.servers.bootstrap;
    return new Map(
      [...this.#running].map(([domain, entry]) => [domain, entry.tunnels.get(bootstrap) as TunnelClient]),
    );
  }

  /** The servers each domain has a tunnel to (connected or not), by domain. */
  get servers(): ReadonlyMap<string, readonly string[]> {
    return new Map([...this.#running].map(([domain, entry]) => [domain, [...entry.tunnels.keys()]]));
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
      stopping.push(...[...entry.tunnels.values()].map((t) => t.stop(this.#options.shutdownTimeoutMs)));
    }
    // The old tunnels of a changed domain drain before its new ones connect, so that no
    // request reaches the old services once the new tunnels are up.
    await Promise.all(stopping);
    for (const plan of plans) {
      if (this.#running.has(plan.domain)) continue;
      if (!summary.changed.includes(plan.domain)) summary.added.push(plan.domain);
      const entry: DomainEntry = { plan, instanceId: randomUUID(), label: undefined, tunnels: new Map() };
      this.#running.set(plan.domain, entry);
      this.#reconcile(entry);
    }
    return summary;
  }

  async stop(): Promise<void> {
    this.#unsubscribe();
    const entries = [...this.#running.values()];
    this.#running.clear();
    const tunnels = entries.flatMap((entry) => [...entry.tunnels.values()]);
    await Promise.all([
      ...tunnels.map((tunnel) => tunnel.stop(this.#options.shutdownTimeoutMs)),
      ...this.#retiring,
    ]);
  }

  /** Opens the tunnels of `entry` to servers now listed; drains those to servers gone. */
  #reconcile(entry: DomainEntry): void {
    const { bootstrap, wanted } = this.#options.servers;
    const auto = entry.plan.domain.toLowerCase() === AUTO_DOMAIN;
    const servers = auto && entry.label === undefined ? [bootstrap] : wanted;
    for (const [server, tunnel] of entry.tunnels) {
      if (servers.includes(server)) continue;
      entry.tunnels.delete(server);
      const stopped = tunnel.stop(this.#options.shutdownTimeoutMs);
      this.#retiring.add(stopped);
      void stopped.finally(() => this.#retiring.delete(stopped));
    }
    for (const server of servers) {
      if (entry.tunnels.has(server) || this.#running.get(entry.plan.domain) !== entry) continue;
      const target: TunnelTarget = { server, bootstrap: server === bootstrap, instanceId: entry.instanceId };
      const options = this.#options.tunnelOptions(entry.plan, target);
      const tunnel = new TunnelClient({
        ...options,
        domain: entry.label ?? entry.plan.domain,
        instanceId: entry.instanceId,
        onStatus: (status) => {
          options.onStatus?.(status);
          this.#onStatus(entry, status);
        },
      });
      entry.tunnels.set(server, tunnel);
      tunnel.start();
    }
  }

  /** An `auto` domain's first assigned label opens its tunnels to the other servers. */
  #onStatus(entry: DomainEntry, status: TunnelClientStatus): void {
    if (status.t !== "connected" || entry.label !== undefined || !status.hostname) return;
    if (entry.plan.domain.toLowerCase() !== AUTO_DOMAIN) return;
    entry.label = status.hostname;
    this.#reconcile(entry);
  }
}
