import { isIP } from "node:net";
import { join } from "node:path";
import type { ServerConfig } from "../config/server-settings.js";
import type { Logger } from "../lib/logger.js";
import type { AcmeCertificateManager, AcmeOrderEvent } from "./certs/acme/acme-certificate-manager.js";
import type { ChallengeTokens } from "./certs/acme/challenge-tokens.js";
import type { CertificateProvider } from "./certs/certificate-provider.js";
import { advertisedHost } from "./cluster/advertised-servers.js";
import { createFileProvider } from "./certs/file-provider.js";
import { createSelfSignedProvider } from "./certs/self-signed-provider.js";
import type { OrderBudget } from "./certs/acme/order-budget.js";
import type { RenewalPolicy } from "./certs/acme/renewal-policy.js";
import type { Database } from "./store/database.js";
import type { DomainRepository } from "./store/domain-repository.js";

export type TlsMode = NonNullable<ServerConfig["tls"]>;

export interface CertificateSourceContext {
  readonly config: ServerConfig;
  readonly database: Database;
  readonly domains: DomainRepository;
  readonly challenges: ChallengeTokens;
  readonly logger: Logger;
  readonly onOrder?: (event: AcmeOrderEvent) => void;
  /** Labels held under wildcard domains: they get certificates on demand, within `labelOrders`. */
  readonly labels?: { holds(domain: string): boolean };
  readonly labelOrders?: OrderBudget;
  /** StartServerOptions.acmeRetry: the retry schedule after failed orders (renewal-policy.ts). */
  readonly acmeRetry?: AcmeRetrySchedule;
}

/** The retry schedule's parts that an in-process caller may shorten (tests); defaults otherwise. */
export type AcmeRetrySchedule = Partial<Pick<RenewalPolicy, "firstRetryDelayMs" | "maxRetryDelayMs">>;

export type CertificateSource =
  | { readonly mode: "self-signed" | "files"; readonly provider: CertificateProvider }
  | { readonly mode: "acme"; readonly provider: AcmeCertificateManager };

/**
 * The certificate sources of HOP_SERVER_TLS, registered explicitly (STYLE.md rule 4). ACME is
 * loaded only when chosen: its client and X.509 libraries cost tens of MB of memory that a
 * server with certificate files never needs (docs/performance.md).
 */
const certificateSources: Record<TlsMode, (context: CertificateSourceContext) => Promise<CertificateSource>> =
  {
    "self-signed": ({ config, logger }) =>
      Promise.resolve({
        mode: "self-signed",
        provider: createSelfSignedProvider({
          domain: config.domain,
          extraNames: withAdvertisedName(config),
          persistDir: join(config.dataDir, "tls"),
          logger,
        }),
      }),
    files: ({ config, logger }) =>
      Promise.resolve({
        mode: "files",
        provider: createFileProvider({ certFile: config.tlsCertFile, keyFile: config.tlsKeyFile, logger }),
      }),
    acme: async (context) => {
      const { config, database, domains, challenges, logger, onOrder, labels, labelOrders } = context;
      const [
        { createAcmeCertificateManager },
        { createAcmeIssuer },
        { acmeSettings },
        { createAddressCheck },
        { createKyselyCertificateStore },
      ] = await Promise.all([
        import("./certs/acme/acme-certificate-manager.js"),
        import("./certs/acme/acme-issuer.js"),
        import("./certs/acme/acme-settings.js"),
        import("./certs/acme/address-check.js"),
        import("./certs/acme/kysely-certificate-store.js"),
      ]);
      const acme = acmeSettings(config, logger);
      const store = createKyselyCertificateStore(database);
      return {
        mode: "acme",
        provider: createAcmeCertificateManager({
          mainDomain: config.domain,
          extraDomains: withAdvertisedName(config),
          // Ask the store itself: on-demand issuance must never trust a stale cache.
          registry: {
            isRegistered: async (domain) =>
              (await domains.find(domain)) !== undefined || (labels?.holds(domain) ?? false),
            allDomains: () => domains.allDomains(),
          },
          store,
          issuer: createAcmeIssuer({
            directoryUrl: acme.directoryUrl,
            email: acme.email,
            directoryCaPem: acme.directoryCaPem,
            store,
            challenges,
            logger,
          }),
          addressCheck:
            acme.expectedIps.length > 0 ? createAddressCheck({ expectedIps: acme.expectedIps }) : undefined,
          onOrder,
          // A held label is never a registered domain (registering one ends the label).
          policy: {
            ...context.acmeRetry,
            ...(config.acmeRenewRemainingPercent === undefined
              ? {}
              : { renewAtRemainingFraction: config.acmeRenewRemainingPercent / 100 }),
          },
          orderGate: (domain) => (labels?.holds(domain) ? labelOrders?.take() : undefined),
          logger,
        }),
      };
    },
  };

/**
 * HOP_SERVER_PROXY_DOMAINS and, when HOP_SERVER_ADVERTISE_ADDR names a host by DNS name, that
 * name: v2 clients dial every server by its advertise address and verify its certificate for it
 * (docs/scale-out.md), so each server needs one for its own name.
 */
export function withAdvertisedName(config: ServerConfig): readonly string[] {
  const host = advertisedHost(config.advertiseAddr);
  if (host === undefined || host.startsWith("[") || isIP(host) !== 0) return config.proxyDomains;
  if (host === config.domain.toLowerCase() || config.proxyDomains.includes(host)) return config.proxyDomains;
  return [...config.proxyDomains, host];
}

/** HOP_SERVER_TLS, defaulting to self-signed for localhost and ACME for a real domain. */
export function tlsModeOf(config: ServerConfig): TlsMode {
  return config.tls ?? (config.domain === "localhost" ? "self-signed" : "acme");
}

export function createCertificateSource(context: CertificateSourceContext): Promise<CertificateSource> {
  return certificateSources[tlsModeOf(context.config)](context);
}
