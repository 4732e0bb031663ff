import { isIP } from "node:net";
import type { ListenAddress } from "../../config/parsers.js";
import { HopGateError } from "../../lib/hopgate-error.js";
import type { Logger } from "../../lib/logger.js";
import type { CertificatePair } from "../certs/certificate-pair.js";
import type { VisitorAddressOf } from "../edge/visitor-address.js";
import type { Proxy } from "../proxy/proxy.js";
import type { Database } from "../store/database.js";
import type { SessionDirectory } from "../tunnel/session-directory.js";
import { issuePeerCertificate, loadGatewayCa } from "./gateway-ca.js";
import { startPeerListener } from "./peer-listener.js";
import { startPeerMesh } from "./peer-mesh.js";
import type { PeerRoutes } from "./peer-routes.js";
import type { ServerRegistry } from "./server-registry.js";

export interface PeerRelayOptions {
  readonly listen: ListenAddress;
  /** HOP_SERVER_PEER_ADVERTISE_ADDR; unset: the listen host with the bound port. */
  readonly advertiseAddress: string | undefined;
  readonly database: Database;
  readonly registry: ServerRegistry;
  /** This server's sessions: the domains with an active one are announced to the peers. */
  readonly sessions: SessionDirectory;
  /** Filled from the peers' announcements; the public proxy relays by it. */
  readonly routes: PeerRoutes;
  /** The proxy that serves relayed requests here: no relay, no policy (see docs/scale-out.md). */
  readonly holderProxy: (visitorAddressOf: VisitorAddressOf) => Proxy;
  readonly logger: Logger;
  /** Registry read period for peers to dial; the heartbeat's by default. */
  readonly refreshMs?: number;
  readonly certificateValidityMs?: number;
}

export interface PeerRelay {
  readonly port: number;
  /** host:port written to the registry. */
  readonly address: string;
  /** This server's sessions changed: announce its domains to the peers. */
  announce(): void;
  close(): Promise<void>;
}

const DEFAULT_REFRESH_MS = 2_000;
const PING_INTERVAL_MS = 1_000;
/** A link whose PING is unanswered this long is down, and its routes dropped. */
const PING_TIMEOUT_MS = 3_000;
const DEFAULT_CERTIFICATE_VALIDITY_MS = 24 * 60 * 60 * 1000;

/**
 * The peer link of this server (docs/scale-out.md): the gateway CA from PostgreSQL, a short-lived
 * certificate naming this server's registry id (reissued at half its life), the peer listener,
 * and the mesh of outbound links to every other live server.
 */
export async function startPeerRelay(options: PeerRelayOptions): Promise<PeerRelay> {
  const { registry, logger } = options;
  const validityMs = options.certificateValidityMs ?? DEFAULT_CERTIFICATE_VALIDITY_MS;
  if (options.advertiseAddress === undefined && isWildcard(options.listen.host))
    throw new HopGateError(
      "config_invalid",
      "HOP_SERVER_PEER_LISTEN listens on a wildcard address: set HOP_SERVER_PEER_ADVERTISE_ADDR to the address peers dial",
    );
  const ca = await loadGatewayCa(options.database.db, options.database.dialect);
  let certificate: CertificatePair = await issuePeerCertificate(ca, registry.self.id, validityMs);
  const domains = function* () {
    for (const session of options.sessions.list()) if (session.state === "active") yield session.domain;
  };
  let holderAddressOf: VisitorAddressOf = () => ({ address: undefined, chain: [] });
  const listener = await startPeerListener({
    listen: options.listen,
    caPem: ca.certificatePem,
    certificate,
    isLive: (id) => registry.isLive(id),
    domains,
    proxy: options.holderProxy((req) => holderAddressOf(req)),
    logger,
  });
  holderAddressOf = listener.visitorAddressOf;
  const address = options.advertiseAddress ?? defaultAddress(options.listen, listener.port);
  registry.setPeerAddress(address);
  const mesh = startPeerMesh({
    livePeers: () => registry.livePeers(),
    caPem: ca.certificatePem,
    certificate: () => certificate,
    routes: options.routes,
    refreshMs: options.refreshMs ?? DEFAULT_REFRESH_MS,
    pingIntervalMs: PING_INTERVAL_MS,
    pingTimeoutMs: PING_TIMEOUT_MS,
    logger,
  });
  const renewal = setInterval(() => {
    issuePeerCertificate(ca, registry.self.id, validityMs).then(
      (renewed) => {
        certificate = renewed;
        listener.setCertificate(renewed);
      },
      (error: unknown) => logger.error({ err: error }, "could not renew the peer certificate"),
    );
  }, validityMs / 2);
  renewal.unref();
  logger.info({ peer_addr: address, server_id: registry.self.id }, "peer link ready");
  return {
    port: listener.port,
    address,
    announce: () => listener.announce(),
    async close() {
      clearInterval(renewal);
      mesh.close();
      await listener.close();
    },
  };
}

/** A wildcard listen host cannot be dialled: its peers need HOP_SERVER_PEER_ADVERTISE_ADDR. */
function isWildcard(host: string): boolean {
  return host === "" || host === "0.0.0.0" || host === "::";
}

/** The listen host with the bound port. */
function defaultAddress(listen: ListenAddress, port: number): string {
  return isIP(listen.host) === 6 ? `[${listen.host}]:${port}` : `${listen.host}:${port}`;
}
