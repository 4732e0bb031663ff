import { hostForRouting } from "../../lib/domain-name.js";

/**
 * The host of this server's advertise address (`[v6]` bracketed, as hostForRouting spells
 * hosts), or undefined without one. v2 clients dial it by that name: it is one of the server's own
 * names (tunnel calls and admin API as on the main domain, never a tenant's domain), and a DNS
 * name needs a certificate of its own.
 */
export function advertisedHost(advertiseAddr: string | undefined): string | undefined {
  return advertiseAddr === undefined ? undefined : hostForRouting(advertiseAddr) || undefined;
}

/** At most this many addresses go into one list (clients keep fewer: docs/scale-out.md). */
export const MAX_ADVERTISED_SERVERS = 64;

/**
 * The advertise addresses of the gateway's live servers that this server tells its v2 clients
 * (TunnelAccept.servers, then a ServerList frame at each change; docs/protocol.md). Only a
 * server that has an advertise address and runs the server registry has one of these.
 */
export interface AdvertisedServers {
  /** Sorted, without duplicates, this server's own address included (until `leave`). */
  current(): readonly string[];
  /** Calls `listener` with every new list; returns the unsubscribe. */
  subscribe(listener: (servers: readonly string[]) => void): () => void;
}

export interface AdvertisedServerList extends AdvertisedServers {
  /** The live servers as the registry read them; listeners hear it only when the list changed. */
  update(addresses: readonly string[]): void;
  /**
   * This server is stopping: the list without it goes to its clients (before their Drain), so
   * that they close their tunnel to it instead of reconnecting; later updates are ignored.
   */
  leave(): void;
}

export function createAdvertisedServers(self: string): AdvertisedServerList {
  let list: readonly string[] = [self];
  let left = false;
  const listeners = new Set<(servers: readonly string[]) => void>();
  const publish = (next: readonly string[]) => {
    if (next.join("\n") === list.join("\n")) return;
    list = next;
    for (const listener of listeners) listener(list);
  };
  return {
    current: () => list,
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    update(addresses) {
      if (left) return;
      publish(withSelf(self, addresses));
    },
    leave() {
      if (left) return;
      left = true;
      publish(list.filter((address) => address !== self));
    },
  };
}

/** Sorted and bounded, always with this server's own address. */
function withSelf(self: string, addresses: readonly string[]): string[] {
  const others = [...new Set(addresses)].filter((a) => a !== self).sort();
  return [self, ...others.slice(0, MAX_ADVERTISED_SERVERS - 1)].sort();
}
