import { AUTO_DOMAIN, hostnameUnder, wildcardOf } from "../../lib/wildcard-domain.js";
import type { DomainRepository } from "../store/domain-repository.js";
import type { TunnelAuthenticator } from "../tunnel/tunnel-endpoint.js";
import type { GatewayLabels } from "./gateway-labels.js";
import type { LabelLeases } from "./label-leases.js";
import { randomLabel } from "./random-label.js";

export interface TunnelAuthenticatorOptions {
  readonly domains: Pick<DomainRepository, "authenticate" | "find" | "findWildcardByKey">;
  readonly leases: LabelLeases;
  /** Names no label may take (the main domain, HOP_SERVER_PROXY_DOMAINS). */
  readonly isReserved: (hostname: string) => boolean;
  /**
   * The labels of the whole gateway (several servers on one PostgreSQL store), asked before a
   * label is claimed here unless this server already holds a lease of it (its own to judge); none:
   * this server's memory alone decides.
   */
  readonly gateway?: Pick<GatewayLabels, "claim">;
  /** A registered name (a domain, or the wildcard pattern of a label) the store accepted a key for. */
  readonly onConfirmed?: (registeredName: string) => void;
}

/** Draws for `--domain auto` before giving up; a collision of 79-bit labels is already unheard of. */
const AUTO_ATTEMPTS = 5;

/**
 * The store's answer to a tunnel's credentials. A registered domain is served with its own key.
 * Otherwise a name one label under a registered wildcard (`demo.tunnel.example.com` under
 * `*.tunnel.example.com`) is served with the wildcard's key once the label is claimed (first
 * come, first served, see label-leases.ts); `auto` claims a random label under the wildcard
 * whose key it is. A wildcard key never serves the base itself, deeper names or other domains:
 * they fail as an unknown domain or a wrong key does.
 */
export function createTunnelAuthenticator(options: TunnelAuthenticatorOptions): TunnelAuthenticator {
  const { domains, leases } = options;
  /**
   * The gateway's verdict first when there is a gateway and this server holds no lease of the
   * label (one held here, by this holder or another, is this server's to judge), then the local claim.
   */
  const claim = async (hostname: string, pattern: string, holder: string) => {
    if (options.gateway && leases.holderOf(hostname) === undefined) {
      const shared = await options.gateway.claim(hostname, pattern, holder);
      if (!shared.ok) return shared;
    }
    return leases.claim(hostname, pattern, holder);
  };
  return {
    async authenticate({ domain, apiKey, holder }) {
      if (domain === AUTO_DOMAIN) {
        const pattern = await domains.findWildcardByKey(apiKey);
        if (pattern === undefined) return { t: "invalid_key" };
        options.onConfirmed?.(pattern);
        for (let attempt = 0; attempt < AUTO_ATTEMPTS; attempt++) {
          const hostname = hostnameUnder(pattern, randomLabel());
          if (options.isReserved(hostname) || leases.holds(hostname)) continue;
          if ((await domains.find(hostname)) !== undefined) continue;
          const claimed = await claim(hostname, pattern, holder);
          if (claimed.ok) return { t: "ok", hostname, lease: claimed.lease };
          if (claimed.reason === "label_limit") return { t: claimed.reason, message: claimed.message };
        }
        return { t: "label_taken", message: `no free label found under ${pattern}; retry` };
      }
      if (await domains.authenticate(domain, apiKey)) {
        options.onConfirmed?.(domain);
        return { t: "ok", hostname: domain };
      }
      if ((await domains.find(domain)) !== undefined) return { t: "invalid_key" };
      const wildcard = wildcardOf(domain);
      if (!wildcard || options.isReserved(domain)) return { t: "unknown_domain" };
      if (!(await domains.authenticate(wildcard.pattern, apiKey))) {
        return (await domains.find(wildcard.pattern)) ? { t: "invalid_key" } : { t: "unknown_domain" };
      }
      options.onConfirmed?.(wildcard.pattern);
      const claimed = await claim(domain, wildcard.pattern, holder);
      return claimed.ok
        ? { t: "ok", hostname: domain, lease: claimed.lease }
        : { t: claimed.reason, message: claimed.message };
    },
  };
}
