import { Agent } from "node:https";
import { Client, axios as acmeAxios, crypto as acmeCrypto, type ClientOptions } from "acme-client";
import { HopGateError } from "../../../lib/hopgate-error.js";
import type { Logger } from "../../../lib/logger.js";
import type { CertificatePair } from "../certificate-pair.js";
import type { ChallengeTokens } from "./challenge-tokens.js";
import type { CertificateStore } from "./certificate-store.js";

/** Obtains certificates from a CA. The manager depends on this seam, not on acme-client. */
export interface CertificateIssuer {
  /** A new certificate and key for `domain`; throws with the CA's reason when the order fails. */
  issue(domain: string): Promise<CertificatePair>;
  /** Releases what the issuer holds (HTTPS agent, interceptor). */
  close(): void;
}

export interface AcmeIssuerOptions {
  readonly directoryUrl: string;
  /** HOP_ACME_EMAIL: account contact; changed on the CA when it differs from the stored one. */
  readonly email?: string;
  readonly store: CertificateStore;
  /** Where HTTP-01 key authorizations go for the HTTP listener to answer. */
  readonly challenges: ChallengeTokens;
  /** PEM CA trusted for the directory's own HTTPS only (a test CA such as pebble's). */
  readonly directoryCaPem?: string;
  /** acme-client's polling of pending authorizations and orders: first delay, doubling to max. */
  readonly pollMinMs?: number;
  readonly pollMaxMs?: number;
  readonly logger: Logger;
}

/**
 * ACME (RFC 8555) issuer on acme-client with HTTP-01 challenges and EC P-256 keys. The account key
 * is created once per directory URL and kept in the store.
 */
export function createAcmeIssuer(options: AcmeIssuerOptions): CertificateIssuer {
  const logger = options.logger.child({ component: "acme" });
  const detachTrust = options.directoryCaPem
    ? trustDirectoryCa(options.directoryUrl, options.directoryCaPem)
    : () => {};
  const clientOptions = {
    directoryUrl: options.directoryUrl,
    backoffAttempts: 10,
    backoffMin: options.pollMinMs ?? 1_000,
    backoffMax: options.pollMaxMs ?? 30_000,
  };
  let account: Promise<Client> | undefined;

  const accountClient = (): Promise<Client> => {
    account ??= openAccount(options, clientOptions, logger).catch((error: unknown) => {
      account = undefined;
      throw error;
    });
    return account;
  };

  return {
    async issue(domain) {
      const client = await accountClient();
      const [key, csr] = await acmeCrypto.createCsr(
        { commonName: domain, altNames: [domain] },
        await acmeCrypto.createPrivateEcdsaKey("P-256"),
      );
      const chain = await client.auto({
        csr,
        termsOfServiceAgreed: true,
        challengePriority: ["http-01"],
        // acme-client would otherwise fetch http://<domain>/ itself first; the CA's check is the one that counts.
        skipChallengeVerification: true,
        // Settles once every server sharing the store can answer; only then is the CA told to validate.
        challengeCreateFn: async (_authz, challenge, keyAuthorization) => {
          if (challenge.type !== "http-01")
            throw new HopGateError("internal", `unexpected ${challenge.type} challenge`);
          await options.challenges.set(challenge.token, keyAuthorization);
        },
        challengeRemoveFn: (_authz, challenge) => options.challenges.delete(challenge.token),
      });
      return { certificatePem: chain, privateKeyPem: key.toString() };
    },
    close: detachTrust,
  };
}

async function openAccount(
  options: AcmeIssuerOptions,
  clientOptions: Omit<ClientOptions, "accountKey">,
  logger: Logger,
): Promise<Client> {
  const { store, directoryUrl, email } = options;
  return store.withLock(`acme-account:${directoryUrl}`, async () => {
    const contact = email ? [`mailto:${email}`] : [];
    const stored = await store.loadAccount(directoryUrl);
    if (stored) {
      const client = new Client({
        ...clientOptions,
        accountKey: stored.accountKeyPem,
        accountUrl: stored.accountUrl,
      });
      if ((stored.email ?? "") !== (email ?? "")) {
        await client.updateAccount({ contact });
        await store.saveAccount({ ...stored, email });
        logger.info({ directoryUrl }, "updated ACME account contact");
      }
      return client;
    }
    const accountKey = await acmeCrypto.createPrivateEcdsaKey("P-256");
    const client = new Client({ ...clientOptions, accountKey });
    await client.createAccount({ termsOfServiceAgreed: true, contact });
    const accountUrl = client.getAccountUrl();
    await store.saveAccount({ directoryUrl, accountKeyPem: accountKey.toString(), accountUrl, email });
    logger.info({ directoryUrl, accountUrl }, "created ACME account");
    return client;
  });
}

/**
 * acme-client sends every request through one shared axios instance and has no per-client TLS
 * option; its README points at `acme.axios` for such settings. This interceptor gives requests to
 * the directory's origin (and only those) an agent that trusts `caPem`. Returns the undo.
 */
function trustDirectoryCa(directoryUrl: string, caPem: string): () => void {
  const origin = new URL(directoryUrl).origin;
  const agent = new Agent({ ca: caPem, keepAlive: false });
  const id = acmeAxios.interceptors.request.use((config) => {
    if (config.url !== undefined && URL.canParse(config.url) && new URL(config.url).origin === origin) {
      config.httpsAgent = agent;
    }
    return config;
  });
  return () => {
    acmeAxios.interceptors.request.eject(id);
    agent.destroy();
  };
}
