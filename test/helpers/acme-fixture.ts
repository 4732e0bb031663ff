import { Resolver } from "node:dns/promises";
import { silentLogger } from "../../src/lib/logger.js";
import {
  createAcmeCertificateManager,
  type AcmeCertificateManager,
  type AcmeCertificateManagerOptions,
  type AcmeOrderEvent,
} from "../../src/server/certs/acme/acme-certificate-manager.js";
import { createAcmeIssuer } from "../../src/server/certs/acme/acme-issuer.js";
import type { AddressLookup } from "../../src/server/certs/acme/address-check.js";
import { createChallengeTokens, type ChallengeTokens } from "../../src/server/certs/acme/challenge-tokens.js";
import type { CertificateStore } from "../../src/server/certs/acme/certificate-store.js";
import { createKyselyCertificateStore } from "../../src/server/certs/acme/kysely-certificate-store.js";
import { createHttpListener } from "../../src/server/http/http-listener.js";
import { preparePebble, type PebbleOptions, type PebbleSetup, type RunningPebble } from "./pebble.js";
import { openTestDatabase, storeBackends, type Cleanup, type StoreLocation } from "./store-backends.js";
import { startTlsServer, tlsHandshake, type PeerCertificate } from "./tls-probe.js";

/**
 * Fixtures for the certificate manager's end-to-end tests. Pass a `lifoCleanup(t)`: servers must
 * stop before the pebble, listener and database they use.
 */

/** Our HTTP listener (challenge answers) and a pebble validating against it; only the listener runs yet. */
export interface AcmeEnvironment {
  readonly challenges: ChallengeTokens;
  readonly pebble: PebbleSetup;
}

export async function prepareAcmeEnvironment(
  cleanup: Cleanup,
  options: Omit<PebbleOptions, "httpPort"> = {},
): Promise<AcmeEnvironment> {
  const challenges = createChallengeTokens();
  const listener = createHttpListener({ httpsPort: 443, challenges, logger: silentLogger() });
  const httpPort = await listener.listen({ host: "127.0.0.1", port: 0 });
  cleanup(() => listener.close());
  return { challenges, pebble: await preparePebble(cleanup, { ...options, httpPort }) };
}

export async function startAcmeEnvironment(
  cleanup: Cleanup,
  options: Omit<PebbleOptions, "httpPort"> = {},
): Promise<AcmeEnvironment & { running: RunningPebble }> {
  const environment = await prepareAcmeEnvironment(cleanup, options);
  return { ...environment, running: await environment.pebble.start() };
}

/** A store location on SQLite (the default) or the backend given. */
export async function storeLocation(cleanup: Cleanup, backend = storeBackends[0]!): Promise<StoreLocation> {
  return backend.location(cleanup);
}

export interface ServerUnderTest {
  readonly manager: AcmeCertificateManager;
  readonly store: CertificateStore;
  /** Every finished order, in order. */
  readonly orders: AcmeOrderEvent[];
  /** Names the registry answers as registered; tests add and delete. */
  readonly registered: Set<string>;
  /** Port of a TLS server that takes its certificates from the manager. */
  readonly tlsPort: number;
}

export const MAIN_DOMAIN = "hop.example.test";

/** One HopGate server's certificate side: store, issuer, manager (started) and a TLS listener. */
export async function startServer(
  cleanup: Cleanup,
  environment: AcmeEnvironment,
  location: StoreLocation,
  options: Partial<Pick<AcmeCertificateManagerOptions, "policy" | "addressCheck" | "onDemandWaitMs">> & {
    registered?: Iterable<string>;
  } = {},
): Promise<ServerUnderTest> {
  const database = await openTestDatabase(cleanup, location);
  const store = createKyselyCertificateStore(database);
  const issuer = createAcmeIssuer({
    directoryUrl: environment.pebble.directoryUrl,
    email: "ops@example.test",
    store,
    challenges: environment.challenges,
    directoryCaPem: environment.pebble.listenerCaPem,
    pollMinMs: 100,
    pollMaxMs: 1_000,
    logger: silentLogger(),
  });
  const { registered: initiallyRegistered = [], ...managerOptions } = options;
  const orders: AcmeOrderEvent[] = [];
  const registered = new Set(initiallyRegistered);
  const manager = createAcmeCertificateManager({
    mainDomain: MAIN_DOMAIN,
    registry: {
      isRegistered: (domain) => Promise.resolve(registered.has(domain)),
      allDomains: () => Promise.resolve([...registered]),
    },
    store,
    issuer,
    logger: silentLogger(),
    onOrder: (event) => orders.push(event),
    ...managerOptions,
  });
  await manager.start();
  cleanup(() => manager.stop());
  const tlsPort = await startTlsServer(cleanup, manager);
  return { manager, store, orders, registered, tlsPort };
}

/** A handshake that must verify against pebble's root for `servername`. */
export async function verifiedHandshake(
  running: RunningPebble,
  port: number,
  servername: string,
): Promise<PeerCertificate> {
  return tlsHandshake(port, { servername, ca: await running.rootPem() });
}

/** A resolver that asks the test's DNS responder (instead of the system's), for HOP_ACME_EXPECT_IPS. */
export function testDnsLookup(dnsPort: number): AddressLookup {
  const resolver = new Resolver({ timeout: 2_000, tries: 1 });
  resolver.setServers([`127.0.0.1:${dnsPort}`]);
  const orEmpty = (error: NodeJS.ErrnoException): string[] => {
    if (error.code === "ENODATA") return [];
    throw error;
  };
  return async (domain) => [
    ...(await resolver.resolve4(domain).catch(orEmpty)),
    ...(await resolver.resolve6(domain).catch(orEmpty)),
  ];
}

export function ordersFor(server: ServerUnderTest, domain: string): AcmeOrderEvent[] {
  return server.orders.filter((order) => order.domain === domain);
}

export async function waitFor<T>(
  probe: () => T | undefined | Promise<T | undefined>,
  timeoutMs: number,
  what: string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
