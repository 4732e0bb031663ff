import http2, { type ClientHttp2Session, type OutgoingHttpHeaders } from "node:http2";
import type { Logger } from "../../lib/logger.js";
import type { CertificatePair } from "../certs/certificate-pair.js";
import { peerServerName } from "./gateway-ca.js";
import { announcementSchema, MAX_ANNOUNCEMENT_BYTES, PEER_PATHS } from "./peer-protocol.js";
import type { PeerRoutes, PeerTarget } from "./peer-routes.js";
import { sendBuffersOnly } from "../../lib/buffer-writes.js";

export interface PeerLinkOptions {
  /** Registry id of the peer: its certificate must name it. */
  readonly id: string;
  /** host:port of its peer listener (registry `peer_addr`). */
  readonly address: string;
  readonly caPem: string;
  /** This server's current peer certificate, presented as the client certificate. */
  readonly certificate: CertificatePair;
  readonly routes: PeerRoutes;
  readonly pingIntervalMs: number;
  /** A PING unanswered this long (or a connection not up this long) ends the link. */
  readonly pingTimeoutMs: number;
  readonly logger: Logger;
  /** The link is down for good (never called twice); a new one may be dialled. */
  readonly onClosed: (link: PeerLink) => void;
}

export interface PeerLink extends PeerTarget {
  readonly address: string;
  close(): void;
}

/**
 * One outbound peer link: a single HTTP/2 connection to a peer's listener over mutual TLS, the
 * peer verified as the gateway CA's certificate for `<id>.peer.hopgate.invalid`. It reads the
 * peer's route announcements into `routes` and carries this server's relayed exchanges. The
 * link is down (its routes dropped at once) when the connection closes or errs, or a PING goes
 * unanswered for `pingTimeoutMs`; it is never reopened: the mesh dials a new one.
 */
export function openPeerLink(options: PeerLinkOptions): PeerLink {
  const { id, routes, logger } = options;
  let closed = false;
  let pingSentAtMs: number | undefined;
  let announced = false;
  const link: PeerLink = {
    id,
    address: options.address,
    openExchange(headers: OutgoingHttpHeaders) {
      if (closed || session.closed || session.destroyed) return undefined;
      try {
        const stream = session.request(
          { ":method": "POST", ":path": PEER_PATHS.exchange, ...headers },
          { endStream: false },
        );
        sendBuffersOnly(stream);
        return stream;
      } catch (error) {
        logger.warn({ err: error, peer_id: id }, "could not open a relayed exchange");
        return undefined;
      }
    },
    close: () => down("closed by this server"),
  };
  const down = (reason: string, error?: unknown) => {
    if (closed) return;
    closed = true;
    clearInterval(pinger);
    clearTimeout(connectTimer);
    routes.drop(link);
    session.destroy();
    if (announced)
      logger.warn({ err: error, peer_id: id, peer_addr: options.address, reason }, "peer link down");
    else logger.debug({ err: error, peer_id: id, peer_addr: options.address, reason }, "peer link failed");
    options.onClosed(link);
  };

  const session: ClientHttp2Session = http2.connect(`https://${options.address}`, {
    ca: options.caPem,
    cert: options.certificate.certificatePem,
    key: options.certificate.privateKeyPem,
    servername: peerServerName(id),
    minVersion: "TLSv1.3",
  });
  session.on("error", (error) => down("connection error", error));
  session.on("close", () => down("connection closed"));
  session.on("goaway", () => down("peer sent GOAWAY"));
  const connectTimer = setTimeout(() => down("connection not up in time"), options.pingTimeoutMs);
  session.once("connect", () => {
    clearTimeout(connectTimer);
    watchRoutes(session);
  });
  const pinger = setInterval(
    () => {
      if (session.connecting) return;
      if (pingSentAtMs !== undefined) {
        if (Date.now() - pingSentAtMs > options.pingTimeoutMs) down("PING unanswered");
        return;
      }
      pingSentAtMs = Date.now();
      session.ping((error) => {
        if (error) return down("PING failed", error);
        pingSentAtMs = undefined;
      });
    },
    Math.min(options.pingIntervalMs, options.pingTimeoutMs / 2),
  );
  pinger.unref();

  const watchRoutes = (s: ClientHttp2Session) => {
    const stream = s.request({ ":method": "GET", ":path": PEER_PATHS.routes });
    stream.on("error", (error) => down("route stream failed", error));
    stream.on("close", () => down("route stream closed"));
    stream.on("response", (headers) => {
      if (headers[":status"] !== 200) down(`route stream answered ${String(headers[":status"])}`);
    });
    let buffered = "";
    stream.setEncoding("utf8");
    stream.on("data", (text: string) => {
      buffered += text;
      if (buffered.length > MAX_ANNOUNCEMENT_BYTES) return down("announcement too large");
      for (let newline = buffered.indexOf("\n"); newline !== -1; newline = buffered.indexOf("\n")) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        const parsed = announcementSchema.safeParse(safeJson(line));
        if (!parsed.success) return down("malformed announcement");
        routes.announce(link, new Set(parsed.data.domains));
        if (!announced) logger.info({ peer_id: id, peer_addr: options.address }, "peer link up");
        announced = true;
      }
    });
  };
  return link;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
