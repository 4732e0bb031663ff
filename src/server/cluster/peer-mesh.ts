import type { Logger } from "../../lib/logger.js";
import type { CertificatePair } from "../certs/certificate-pair.js";
import { openPeerLink, type PeerLink } from "./peer-link.js";
import type { PeerRoutes } from "./peer-routes.js";
import type { PeerEntry } from "./server-registry.js";

export interface PeerMeshOptions {
  /** The other live servers with a peer listener (the registry); may throw while PostgreSQL is down. */
  readonly livePeers: () => Promise<PeerEntry[]>;
  readonly caPem: string;
  readonly certificate: () => CertificatePair;
  readonly routes: PeerRoutes;
  /** How often the registry is read for peers to dial (and links to end). */
  readonly refreshMs: number;
  readonly pingIntervalMs: number;
  readonly pingTimeoutMs: number;
  readonly logger: Logger;
}

export interface PeerMesh {
  /** Reads the registry now (tests, and start-up). */
  refresh(): Promise<void>;
  close(): void;
}

/**
 * One outbound link to every other live server with a peer listener: dialled when the registry
 * lists it, redialled at the next refresh after the link went down, closed when the registry
 * (answering) no longer lists it. While PostgreSQL does not answer, open links stay as they are.
 */
export function startPeerMesh(options: PeerMeshOptions): PeerMesh {
  const links = new Map<string, PeerLink>();
  let stopped = false;
  let failing = false;
  let running: Promise<void> | undefined;

  const reconcile = async () => {
    let peers: PeerEntry[];
    try {
      peers = await options.livePeers();
    } catch (error) {
      if (!failing)
        options.logger.warn({ err: error }, "could not read the peers from the registry; links kept");
      failing = true;
      return;
    }
    failing = false;
    if (stopped) return;
    const listed = new Map(peers.map((p) => [p.id, p.peerAddress]));
    for (const [id, link] of links) if (listed.get(id) !== link.address) link.close();
    for (const [id, address] of listed) {
      if (links.has(id)) continue;
      const link = openPeerLink({
        id,
        address,
        caPem: options.caPem,
        certificate: options.certificate(),
        routes: options.routes,
        pingIntervalMs: options.pingIntervalMs,
        pingTimeoutMs: options.pingTimeoutMs,
        logger: options.logger,
        onClosed: (gone) => {
          if (links.get(gone.id) === gone) links.delete(gone.id);
        },
      });
      links.set(id, link);
    }
  };
  const refresh = () => (running ??= reconcile().finally(() => (running = undefined)));
  const timer = setInterval(() => void refresh(), options.refreshMs);
  timer.unref();
  void refresh();
  return {
    refresh,
    close() {
      stopped = true;
      clearInterval(timer);
      for (const link of links.values()) link.close();
    },
  };
}
