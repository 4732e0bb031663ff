import type { Http2ServerRequest, Http2Session } from "node:http2";
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

/** The session's handle on its connection: HTTP/2 PING for v1 keepalive, and teardown. */
export function transportOf(raw: Http2ServerRequest | undefined): SessionTransport {
  const session = raw?.stream.session;
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
