import type { Http2Session } from "node:http2";
import type { SessionTransport } from "./session.js";

/** Responses flow client → server over a tunnel: its connection gets large receive windows. */
const TUNNEL_STREAM_WINDOW_BYTES = 16 * 1024 * 1024;
const TUNNEL_CONNECTION_WINDOW_BYTES = 64 * 1024 * 1024;

/**
 * What an authenticated tunnel changes on its HTTP/2 connection: large windows (the default
 * 64 KiB window crawled at 26-35 MiB/s, MEASURED.md) and no idle timeout (a tunnel is
 * long-lived; its own keepalive detects death).
 */
export function prepareTunnelConnection(session: Http2Session | undefined): void {
  if (!session || session.destroyed) return;
  session.setTimeout(0);
  session.setLocalWindowSize(TUNNEL_CONNECTION_WINDOW_BYTES);
  session.settings({ initialWindowSize: TUNNEL_STREAM_WINDOW_BYTES });
}

const transports = new WeakMap<Http2Session, SessionTransport>();

/**
 * The session's handle on its connection: HTTP/2 PING for v1 keepalive, and teardown. One per
 * connection, shared by the tunnels on it (a client serving many domains has one connection).
 */
export function transportOf(session: Http2Session | undefined): SessionTransport {
  if (!session) return connectionTransport(undefined);
  let transport = transports.get(session);
  if (!transport) transports.set(session, (transport = connectionTransport(session)));
  return transport;
}

function connectionTransport(session: Http2Session | undefined): SessionTransport {
  return {
    ping: () =>
      new Promise((resolve) => {
        if (!session || session.destroyed) return resolve(false);
        // ping() throws when too many pings are unanswered: that is an unanswered ping too.
        try {
          session.ping((error) => resolve(!error));
        } catch {
          resolve(false);
        }
      }),
    destroy: () => session?.destroy(),
  };
}
