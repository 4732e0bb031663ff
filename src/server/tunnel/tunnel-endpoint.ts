import { randomUUID } from "node:crypto";
import type { Http2ServerRequest } from "node:http2";
import {
  Code,
  ConnectError,
  createContextKey,
  type ConnectRouter,
  type HandlerContext,
} from "@connectrpc/connect";
import { normalizeDomain } from "../../lib/domain-name.js";
import { isHopGateError } from "../../lib/hopgate-error.js";
import type { Logger } from "../../lib/logger.js";
import { HopGateTunnel, type Envelope } from "../../protocol/gen/hopgate/protocol/v1/tunnel_pb.js";
import { decodeHello, encodeAccept, type ClientHello } from "../../protocol/handshake.js";
import type { MultiplexerLimits } from "../../protocol/multiplexer.js";
import type { TunnelStream } from "../../protocol/tunnel-stream.js";
import type { SessionRegistry } from "./session-registry.js";
import { TunnelSession } from "./session.js";
import { prepareTunnelConnection, transportOf } from "./tunnel-connection.js";

/** Checks a tunnel's credentials against the store; throws HopGateError "unavailable" when it cannot. */
export interface TunnelAuthenticator {
  authenticate(domain: string, apiKey: string): Promise<"ok" | "unknown_domain" | "invalid_key">;
}

export type HandshakeResult =
  "ok" | "invalid_key" | "unknown_domain" | "malformed" | "timeout" | "unavailable" | "rate_limited";

export interface TunnelEndpointOptions {
  readonly authenticator: TunnelAuthenticator;
  readonly registry: SessionRegistry;
  readonly limits: MultiplexerLimits;
  readonly handshakeTimeoutMs: number;
  readonly pingIntervalMs: number;
  readonly pingTimeoutMs: number;
  readonly logger: Logger;
  /** True while the server shuts down: new tunnels are refused as retryable. */
  readonly isDraining: () => boolean;
  readonly onHandshake?: (result: HandshakeResult, remoteAddress: string) => void;
  readonly onSessionOpened?: (session: TunnelSession) => void;
  readonly onSessionClosed?: (session: TunnelSession, reason: string) => void;
  readonly onStreamFinished?: (stream: TunnelStream) => void;
}

/** The raw HTTP/2 request under a Connect call, set by the edge's dispatch (contextValues). */
export const rawRequestKey = createContextKey<Http2ServerRequest | undefined>(undefined, {
  description: "raw HTTP/2 request of a tunnel",
});

/** Reject reasons a v2 client reads from the `hopgate-reject-reason` trailer to decide on retrying. */
const REJECT_REASON = "hopgate-reject-reason";

/**
 * The gRPC `OpenTunnel` method: handshake within a deadline (v1 and v2), authentication against
 * the store, then the session's frames both ways until either side ends the tunnel.
 */
export function createTunnelRoutes(options: TunnelEndpointOptions): (router: ConnectRouter) => void {
  return (router) =>
    router.service(HopGateTunnel, {
      openTunnel: (requests, context) => openTunnel(options, requests, context),
    });
}

async function* openTunnel(
  options: TunnelEndpointOptions,
  requests: AsyncIterable<Envelope>,
  context: HandlerContext,
): AsyncGenerator<Envelope> {
  const raw = context.values.get(rawRequestKey);
  const remoteAddress = raw?.socket.remoteAddress ?? "unknown";
  const incoming = requests[Symbol.asyncIterator]();
  const hello = await handshake(options, incoming, remoteAddress);
  const session = new TunnelSession({
    id: randomUUID(),
    domain: hello.domain,
    remoteAddress,
    hello,
    limits: options.limits,
    pingIntervalMs: options.pingIntervalMs,
    pingTimeoutMs: options.pingTimeoutMs,
    transport: transportOf(raw),
    logger: options.logger,
    onStreamFinished: options.onStreamFinished,
    onClosed: (closed, reason) => {
      options.registry.remove(closed);
      options.logger.info({ session_id: closed.id, domain: closed.domain, reason }, "tunnel closed");
      options.onSessionClosed?.(closed, reason);
    },
  });
  if (session.version === 2) {
    session.outbound.push(
      encodeAccept({
        protocolVersion: 2,
        sessionId: session.id,
        initialWindowBytes: options.limits.windowBytes,
        maxChunkBytes: options.limits.maxChunkBytes,
        pingIntervalMs: options.pingIntervalMs,
        maxConcurrentStreams: options.limits.maxStreams,
      }),
    );
  }
  prepareTunnelConnection(raw?.stream.session);
  options.registry.add(session);
  options.onSessionOpened?.(session);
  options.logger.info(
    {
      session_id: session.id,
      domain: session.domain,
      remote_addr: remoteAddress,
      protocol: session.version,
      client_version: session.clientVersion,
      services: session.services,
    },
    "tunnel connected",
  );
  context.signal.addEventListener("abort", () => session.close("connection ended"), { once: true });
  void session.run(incoming);
  try {
    yield* session.outbound;
  } finally {
    session.close("tunnel response ended");
  }
}

async function handshake(
  options: TunnelEndpointOptions,
  incoming: AsyncIterator<Envelope>,
  remoteAddress: string,
): Promise<ClientHello> {
  const reject = (result: HandshakeResult, code: Code, message: string, cause?: unknown): never => {
    options.onHandshake?.(result, remoteAddress);
    options.logger.warn({ remote_addr: remoteAddress, result, detail: message }, "tunnel handshake rejected");
    throw new ConnectError(message, code, { [REJECT_REASON]: result }, undefined, cause);
  };
  if (options.isDraining()) reject("unavailable", Code.Unavailable, "server is draining; retry shortly");
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), options.handshakeTimeoutMs).unref();
  });
  try {
    const first = await Promise.race([incoming.next(), deadline]);
    if (first === "timeout") return reject("timeout", Code.DeadlineExceeded, "handshake timed out");
    if (first.done) return reject("malformed", Code.InvalidArgument, "stream ended before the handshake");
    const decoded = decodeHello(first.value);
    if (!decoded.ok) {
      return decoded.reason === "missing_credentials"
        ? reject("malformed", Code.Unauthenticated, decoded.detail)
        : reject("malformed", Code.InvalidArgument, decoded.detail);
    }
    const domain = normalizeDomain(decoded.hello.domain);
    if (!domain.ok) return reject("unknown_domain", Code.PermissionDenied, "invalid domain or api key");
    const verdict = await Promise.race([
      options.authenticator.authenticate(domain.domain, decoded.hello.apiKey),
      deadline,
    ]).catch((error: unknown) => {
      if (isHopGateError(error, "unavailable")) {
        return reject("unavailable", Code.Unavailable, "store unavailable; retry shortly", error);
      }
      throw error;
    });
    if (verdict === "timeout")
      return reject("timeout", Code.Unavailable, "handshake timed out; retry shortly");
    if (verdict !== "ok") return reject(verdict, Code.PermissionDenied, "invalid domain or api key");
    options.onHandshake?.("ok", remoteAddress);
    return { ...decoded.hello, domain: domain.domain };
  } finally {
    clearTimeout(timer);
  }
}
