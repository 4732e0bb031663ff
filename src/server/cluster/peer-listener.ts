import { once } from "node:events";
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import http2, { type Http2Session, type ServerHttp2Session, type ServerHttp2Stream } from "node:http2";
import type { AddressInfo } from "node:net";
import type { TLSSocket } from "node:tls";
import type { Duplex } from "node:stream";
import type { ListenAddress } from "../../config/parsers.js";
import type { Logger } from "../../lib/logger.js";
import { canonicalAddress } from "../access/ip-rules.js";
import type { CertificatePair } from "../certs/certificate-pair.js";
import type { AddressedRequest, VisitorAddress } from "../edge/visitor-address.js";
import type { Proxy } from "../proxy/proxy.js";
import { peerIdOf } from "./gateway-ca.js";
import { PEER_FOR_HEADER, PEER_PATHS, type Announcement } from "./peer-protocol.js";
import { sendBuffersOnly } from "../../lib/buffer-writes.js";

export interface PeerListenerOptions {
  readonly listen: ListenAddress;
  /** PEM of the gateway CA: the only issuer a peer's client certificate may have. */
  readonly caPem: string;
  readonly certificate: CertificatePair;
  /** Whether a verified certificate's registry id is a live server (asked once per connection). */
  readonly isLive: (id: string) => Promise<boolean>;
  /** The domains this server holds an active tunnel of, announced to every peer. */
  readonly domains: () => Iterable<string>;
  /** Serves relayed requests as visitor requests (a proxy that never relays again). */
  readonly proxy: Proxy;
  readonly logger: Logger;
}

export interface PeerListener {
  readonly port: number;
  /** The peer (visitor) address a relayed request arrived with, for the holder's proxy. */
  readonly visitorAddressOf: (req: AddressedRequest) => VisitorAddress;
  /** This server's tunnels changed: every peer gets the new list soon (coalesced). */
  announce(): void;
  /** Serves a renewed certificate to new connections. */
  setCertificate(pair: CertificatePair): void;
  close(): Promise<void>;
}

const MAX_CHAIN_HOPS = 32;

/**
 * The peer listener (docs/scale-out.md, peer link): HTTP/2 over TLS that requires a client
 * certificate issued by the gateway CA and naming a live registry id; any other connection is
 * closed before a stream is served. Two kinds of stream: `routes`, where this server announces
 * the domains it holds (one JSON line per change), and `exchange`, which carries one visitor's
 * HTTP/1.1 exchange, parsed by an inner HTTP server and handed to the holder's proxy with the
 * visitor's address taken from the stream's request head (set by the relaying server, never by
 * a visitor: only an authenticated peer can open a stream here).
 */
export async function startPeerListener(options: PeerListenerOptions): Promise<PeerListener> {
  const { logger } = options;
  const server = http2.createSecureServer({
    ca: options.caPem,
    cert: options.certificate.certificatePem,
    key: options.certificate.privateKeyPem,
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: "TLSv1.3",
    allowHTTP1: false,
  });
  const verified = new WeakMap<Http2Session, Promise<string | undefined>>();
  const visitors = new WeakMap<object, VisitorAddress>();
  const routeStreams = new Set<ServerHttp2Stream>();
  const sessions = new Set<ServerHttp2Session>();
  const inner = http.createServer();
  inner.on("request", (req: IncomingMessage, res: ServerResponse) => options.proxy.handleRequest(req, res));
  inner.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) =>
    options.proxy.handleUpgrade(req, socket, head),
  );

  server.on("session", (session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
    session.on("error", () => {});
    verified.set(session, verify(session));
  });
  const verify = async (session: ServerHttp2Session): Promise<string | undefined> => {
    const socket = session.socket as TLSSocket;
    const id = peerIdOf(socket.getPeerCertificate?.(false)?.raw);
    let live = false;
    try {
      live = id !== undefined && (await options.isLive(id));
    } catch (error) {
      logger.warn({ err: error, peer_id: id }, "could not check a peer in the registry: refused");
    }
    if (!live) {
      logger.warn(
        { peer_id: id, remote_addr: socket.remoteAddress },
        "peer connection refused: not a live server",
      );
      session.destroy();
      return undefined;
    }
    return id;
  };

  server.on("stream", (stream, headers) => {
    stream.on("error", () => {});
    const session = stream.session;
    void (session ? verified.get(session) : undefined)?.then((id) => {
      if (id === undefined || stream.destroyed) return stream.destroy();
      const path = headers[":path"];
      if (path === PEER_PATHS.routes && headers[":method"] === "GET") return serveRoutes(stream);
      if (path === PEER_PATHS.exchange && headers[":method"] === "POST") {
        const chain = chainOf(headers[PEER_FOR_HEADER]);
        if (!chain) return refuse(stream, 400);
        stream.respond({ ":status": 200 });
        visitors.set(stream, {
          address: chain[0] === UNKNOWN_VISITOR ? undefined : chain[0],
          chain,
          relayedBy: id,
        });
        sendBuffersOnly(stream);
        inner.emit("connection", stream);
        return;
      }
      refuse(stream, 404);
    });
  });

  const serveRoutes = (stream: ServerHttp2Stream) => {
    stream.respond({ ":status": 200, "content-type": "application/x-ndjson" });
    sendBuffersOnly(stream);
    routeStreams.add(stream);
    stream.once("close", () => routeStreams.delete(stream));
    stream.write(announcementLine());
  };
  const announcementLine = () =>
    `${JSON.stringify({ domains: [...new Set(options.domains())] } satisfies Announcement)}\n`;
  let pending = false;
  const announce = () => {
    if (pending) return;
    pending = true;
    setImmediate(() => {
      pending = false;
      const line = announcementLine();
      for (const stream of routeStreams) stream.write(line);
    });
  };

  // exclusive: in a `--workers` worker, its own socket (its own port), not one the cluster shares.
  server.listen({ port: options.listen.port, host: options.listen.host || undefined, exclusive: true });
  await once(server, "listening");
  const port = (server.address() as AddressInfo).port;
  logger.info({ peer_port: port }, "peer listener listening");
  return {
    port,
    visitorAddressOf: (req) => visitors.get(req.socket) ?? { address: undefined, chain: [] },
    announce,
    setCertificate: (pair) =>
      server.setSecureContext({
        ca: options.caPem,
        cert: pair.certificatePem,
        key: pair.privateKeyPem,
        minVersion: "TLSv1.3",
      }),
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const session of sessions) session.destroy();
      inner.close();
      await closed;
    },
  };
}

function refuse(stream: ServerHttp2Stream, status: number): void {
  if (!stream.headersSent) stream.respond({ ":status": status }, { endStream: true });
  else stream.close();
}

/**
 * The relaying peer's word for a visitor whose address a trusted front proxy did not tell
 * (edge/visitor-address.ts); it stands first in the chain only.
 */
const UNKNOWN_VISITOR = "unknown";

/**
 * The forwarding chain a relaying peer sent (visitor first), or undefined when it is no list of
 * IPs but for an unknown visitor.
 */
function chainOf(value: string | string[] | undefined): string[] | undefined {
  if (typeof value !== "string") return undefined;
  const hops = value.split(",").map((hop, i) => {
    const text = hop.trim();
    return i === 0 && text === UNKNOWN_VISITOR ? text : canonicalAddress(text)?.address;
  });
  if (hops.length === 0 || hops.length > MAX_CHAIN_HOPS || hops.some((hop) => hop === undefined))
    return undefined;
  return hops as string[];
}
