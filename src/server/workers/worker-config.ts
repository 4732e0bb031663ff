import type { ServerConfig } from "../../config/server-settings.js";
import { HopGateError } from "../../lib/hopgate-error.js";

/** Where a worker's peer listener binds when HOP_SERVER_PEER_LISTEN is unset: loopback, a free port. */
const LOOPBACK_PEER_LISTEN = { host: "127.0.0.1", port: 0 } as const;

/**
 * The configuration of one worker of `--workers N` (N > 1): the operator's, with a peer listener
 * of its own so that the other workers (and other hosts' servers) relay to the tunnels it holds.
 * Each worker binds its own peer port, so HOP_SERVER_PEER_LISTEN may name a host but its port must
 * be 0, and HOP_SERVER_PEER_ADVERTISE_ADDR (one address) cannot name N listeners. Throws a
 * HopGateError "config_invalid" naming the setting otherwise.
 */
export function workerConfig(config: ServerConfig): ServerConfig {
  if (config.peerListen && config.peerListen.port !== 0)
    throw new HopGateError(
      "config_invalid",
      `HOP_SERVER_PEER_LISTEN: with --workers each worker listens on a port of its own; give port 0 (e.g. ${config.peerListen.host || "10.0.0.5"}:0)`,
    );
  if (config.peerAdvertiseAddr !== undefined)
    throw new HopGateError(
      "config_invalid",
      "HOP_SERVER_PEER_ADVERTISE_ADDR names one address, not the peer listeners of several workers: unset it and give HOP_SERVER_PEER_LISTEN the host other servers reach (port 0)",
    );
  return { ...config, peerListen: config.peerListen ?? LOOPBACK_PEER_LISTEN };
}
