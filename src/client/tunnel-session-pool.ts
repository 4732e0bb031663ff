import type http2 from "node:http2";
import { TunnelHttp2Session, type TunnelHttp2Options } from "./tunnel-http2-session.js";

/** A tunnel's use of a shared HTTP/2 connection; `release` exactly once when the tunnel ends. */
export interface TunnelSessionLease {
  openStream(headers: http2.OutgoingHttpHeaders): Promise<http2.ClientHttp2Stream>;
  ping(): Promise<boolean>;
  /** No further tunnel joins this connection (the server asked to drain it). */
  retire(): void;
  /**
   * Ends this tunnel's use. `broken` (unanswered pings, failed connect) closes the connection
   * for every tunnel on it, since they all share its fate; otherwise it closes with its last user.
   */
  release(broken: boolean): void;
}

export interface TunnelSessionPool {
  acquire(): TunnelSessionLease;
}

interface PooledSession {
  readonly session: TunnelHttp2Session;
  users: number;
  retired: boolean;
}

/**
 * The client's HTTP/2 connections to its server: the tunnels of every domain a client serves
 * are gRPC calls on one connection (HTTP/2 multiplexes them, RFC 9113 §5), so a client of N
 * domains holds one TLS connection, not N. A connection is closed with its last tunnel, so a
 * single-domain client still starts every attempt on a fresh connection, as before; a retired
 * or broken connection takes no new tunnel, so a replacement after a drain reaches whatever
 * server now answers the address.
 */
export function createTunnelSessionPool(options: TunnelHttp2Options): TunnelSessionPool {
  let current: PooledSession | undefined;
  const open = (): PooledSession => {
    if (current && !current.retired && current.session.usable) return current;
    current = { session: new TunnelHttp2Session(options), users: 0, retired: false };
    return current;
  };
  return {
    acquire() {
      const pooled = open();
      pooled.users++;
      let released = false;
      return {
        openStream: (headers) => pooled.session.openStream(headers),
        ping: () => pooled.session.ping(),
        retire: () => {
          pooled.retired = true;
        },
        release: (broken) => {
          if (released) return;
          released = true;
          pooled.users--;
          if (broken) pooled.retired = true;
          if (broken || pooled.users === 0) {
            pooled.retired = true;
            pooled.session.destroy();
          }
        },
      };
    },
  };
}
