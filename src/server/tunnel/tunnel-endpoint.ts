import { randomUUID } from "node:crypto";
import type { IncomingHttpHeaders, ServerHttp2Stream } from "node:http2";
import { normalizeDomain } from "../../lib/domain-name.js";
import { isHopGateError } from "../../lib/hopgate-error.js";
import type { GcPacer } from "../../lib/gc-pacer.js";
import type { Logger } from "../../lib/logger.js";
import type { Envelope } from "../../protocol/gen/hopgate/protocol/v1/tunnel_pb.js";
import {
  GrpcCode,
  grpcStatus,
  REJECT_REASON,
  RETRY_PUSHBACK_MS,
  type GrpcStatus,
} from "../../protocol/grpc-status.js";
import { decodeHello, encodeAccept, type ClientHello } from "../../protocol/handshake.js";
import { MAX_TUNNEL_MESSAGE_BYTES } from "../../protocol/limits.js";
import type { MultiplexerLimits } from "../../protocol/multiplexer.js";
import { TunnelReader } from "../../protocol/tunnel-reader.js";
import type { TunnelStream } from "../../protocol/tunnel-stream.js";
import { startTunnelWriter } from "../../protocol/tunnel-writer.js";
import { AUTO_DOMAIN } from "../../lib/wildcard-domain.js";
import type { AuthLimiter } from "../limits/auth-failure-limiter.js";
import type { HandshakeResult } from "../metrics/server-events.js";
import type { AdvertisedServers } from "../cluster/advertised-servers.js";
import { frame } from "../../protocol/frames.js";
import type { Lease } from "../subdomains/label-leases.js";
import { refuseCall, ServerCall } from "./server-call.js";
import type { VisitorAddressOf } from "../edge/visitor-address.js";
import type { SessionRegistry } from "./session-registry.js";
import { TunnelSession } from "./session.js";
import { prepareTunnelConnection, transportOf } from "./tunnel-connection.js";

/** What a tunnel presents: its domain (normalized, or AUTO_DOMAIN), key and holder id. */
export interface TunnelCredentials {
  readonly domain: string;
  readonly apiKey: string;
  /** Who holds a label it claims: the client's instance id, or an id of this tunnel alone. */
  readonly holder: string;
}

/**
 * The hostname a tunnel may serve: with a lease when it holds a label under a wildcard domain
 * (released when the session closes), or why it may not.
 */
export type TunnelVerdict =
  | { readonly t: "ok"; readonly hostname: string; readonly lease?: Lease }
  | { readonly t: "unknown_domain" | "invalid_key" }
  | { readonly t: "label_taken" | "label_limit"; readonly message: string };

/** Checks a tunnel's credentials against the store; throws HopGateError "unavailable" when it cannot. */
export interface TunnelAuthenticator {
  authenticate(credentials: TunnelCredentials): Promise<TunnelVerdict>;
}

export type { HandshakeResult };

export interface TunnelEndpointOptions {
  readonly authenticator: TunnelAuthenticator;
  /** Refuses addresses with too many failed handshakes before the store is asked; none: no limit. */
  readonly authLimiter?: AuthLimiter;
  /**
   * The client's address for the failed-key limiter, logs and sessions: the peer, or behind a
   * trusted front proxy the address it names (edge/visitor-address.ts); none: the peer.
   */
  readonly clientAddress?: VisitorAddressOf;
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
  /** Ends tunnels still in their handshake when the server shuts down. */
  readonly shutdownSignal?: AbortSignal;
  readonly gcPacer?: GcPacer;
  /**
   * The gateway's live servers, told to v2 clients (TunnelAccept.servers, then ServerList at each
   * change) so that they hold a tunnel to each; none: v2 clients hear of no other server.
   */
  readonly advertisedServers?: AdvertisedServers;
}

/** A tunnel call as the edge hands it over: its HTTP/2 stream and head, nothing built on them. */
export interface TunnelCallHead {
  readonly stream: ServerHttp2Stream;
  /** The request path (normalized when it came through the dispatch). */
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly rawHeaders: readonly string[];
  /** The TCP peer; undefined once the connection is gone. */
  readonly remoteAddress: string | undefined;
}

/** Serves the gRPC `OpenTunnel` method for calls the edge identified as tunnel calls. */
export type TunnelHandler = (call: TunnelCallHead) => void;

/**
 * The gRPC `OpenTunnel` method: handshake within a deadline (v1 and v2), authentication against
 * the store, then the session's frames both ways until either side ends the tunnel.
 */
export function createTunnelEndpoint(options: TunnelEndpointOptions): TunnelHandler {
  return (head) => {
    const call = new ServerCall(head.stream);
    const refused = refuseCall(head.path, head.headers);
    if (refused) return call.finish(refused);
    serveTunnel(options, head, call).catch((error: unknown) => {
      options.logger.error({ err: error }, "tunnel call failed");
      call.finish(grpcStatus(GrpcCode.internal, "internal error"));
    });
  };
}

async function serveTunnel(options: TunnelEndpointOptions, head: TunnelCallHead, call: ServerCall) {
  const remoteAddress =
    options.clientAddress?.({ socket: head, rawHeaders: head.rawHeaders }).address ??
    head.remoteAddress ??
    "unknown";
  const stream = head.stream;
  // The handshake's input: the first Envelope, or why none will come.
  const { promise: firstMessage, resolve: first } = Promise.withResolvers<Envelope | string>();
  // Set once the handshake passed; the reader's callbacks run before and after. `failure`: the
  // status the call ends with when the client's framing broke (the session then closes).
  // `first` is dropped once the handshake is over: its promise would keep the client's hello
  // (credentials and all) for the tunnel's lifetime.
  const live: {
    session?: TunnelSession;
    failure?: GrpcStatus;
    clientEnded?: boolean;
    first?: (outcome: Envelope | string) => void;
  } = { first };
  const reader = new TunnelReader(stream, MAX_TUNNEL_MESSAGE_BYTES, {
    message: (envelope) => {
      if (live.session) return live.session.receive(envelope);
      reader.hold(); // later frames wait for the handshake's outcome
      live.first?.(envelope);
    },
    malformed: (error) => {
      const reason = `malformed message: ${error.message}`;
      if (!live.session) return live.first?.(reason);
      live.failure = grpcStatus(GrpcCode.internal, reason.slice(0, 200));
      live.session.close(reason);
    },
    end: (truncated) => {
      if (!live.session) return live.first?.("stream ended before the handshake");
      live.clientEnded = true;
      live.session.close(
        truncated ? "client closed the tunnel in the middle of a message" : "client closed the tunnel",
      );
    },
  });
  const onGone = () => {
    live.session?.close("connection ended");
    live.first?.("connection ended before the handshake");
  };
  options.shutdownSignal?.addEventListener("abort", onGone, { once: true });
  stream.once("close", () => {
    options.shutdownSignal?.removeEventListener("abort", onGone);
    onGone();
  });
  const hello = await handshake(options, firstMessage, remoteAddress);
  live.first = undefined;
  if (!hello.ok) return call.finish(hello.status);
  if (call.finished) return hello.lease?.release();
  const session = openSession(options, stream, hello.hello, remoteAddress, hello.lease);
  live.session = session;
  call.accept();
  startTunnelWriter(session.outbound, stream, () =>
    call.finish(live.failure ?? closingStatus(session, live.clientEnded === true)),
  );
  reader.release();
}

/**
 * The status of a tunnel that ends without a framing failure. A v1 Go client exits when its call
 * ends and never reconnects itself: a tunnel the server ends (shutdown, drain, keepalive) gets
 * UNAVAILABLE, so that supervisors restarting on failure bring the domain back. v2 clients
 * reconnect on their own (they were told with Drain) and get OK.
 */
function closingStatus(session: TunnelSession, clientEnded: boolean): GrpcStatus {
  if (session.version === 2 || clientEnded) return grpcStatus(GrpcCode.ok, "");
  const state = session.state;
  return grpcStatus(GrpcCode.unavailable, `tunnel closed: ${state.t === "closed" ? state.reason : "server"}`);
}

function openSession(
  options: TunnelEndpointOptions,
  stream: ServerHttp2Stream,
  hello: ClientHello,
  remoteAddress: string,
  lease: Lease | undefined,
): TunnelSession {
  let unsubscribe: (() => void) | undefined;
  const session = new TunnelSession({
    id: randomUUID(),
    domain: hello.domain,
    remoteAddress,
    hello,
    limits: options.limits,
    pingIntervalMs: options.pingIntervalMs,
    pingTimeoutMs: options.pingTimeoutMs,
    transport: transportOf(stream.session),
    logger: options.logger,
    onStreamFinished: options.onStreamFinished,
    gcPacer: options.gcPacer,
    onClosed: (closed, reason) => {
      unsubscribe?.();
      options.registry.remove(closed);
      lease?.release();
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
        hostname: session.domain,
        servers: options.advertisedServers?.current(),
        capabilities: session.capabilities,
      }),
    );
    unsubscribe = options.advertisedServers?.subscribe((servers) =>
      session.outbound.push(frame.serverList(servers)),
    );
  }
  prepareTunnelConnection(stream.session);
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
  return session;
}

type HandshakeOutcome = { ok: true; hello: ClientHello; lease?: Lease } | { ok: false; status: GrpcStatus };

async function handshake(
  options: TunnelEndpointOptions,
  firstMessage: Promise<Envelope | string>,
  remoteAddress: string,
): Promise<HandshakeOutcome> {
  const reject = (
    result: HandshakeResult,
    code: number,
    message: string,
    metadata: Record<string, string> = {},
  ): HandshakeOutcome => {
    options.onHandshake?.(result, remoteAddress);
    if (result === "invalid_key" || result === "unknown_domain")
      options.authLimiter?.recordFailure(remoteAddress);
    // A blocked address may keep knocking: the block's start is logged once (start-server.ts).
    options.logger[result === "rate_limited" ? "debug" : "warn"](
      { remote_addr: remoteAddress, result, detail: message },
      "tunnel handshake rejected",
    );
    return { ok: false, status: grpcStatus(code, message, { [REJECT_REASON]: result, ...metadata }) };
  };
  // Asked before the first message and again before the store: a block that began while this
  // handshake waited for its hello also holds, and a blocked address never reaches the store.
  const refuseBlocked = (): HandshakeOutcome | undefined => {
    const retryAfterMs = options.authLimiter?.retryAfterMs(remoteAddress) ?? 0;
    if (retryAfterMs <= 0) return undefined;
    return reject(
      "rate_limited",
      GrpcCode.resourceExhausted,
      `too many failed authentications from this address; retry in ${Math.ceil(retryAfterMs / 1000)} s`,
      { [RETRY_PUSHBACK_MS]: String(retryAfterMs) },
    );
  };
  if (options.isDraining())
    return reject("unavailable", GrpcCode.unavailable, "server is draining; retry shortly");
  const blockedAtOnce = refuseBlocked();
  if (blockedAtOnce) return blockedAtOnce;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), options.handshakeTimeoutMs).unref();
  });
  try {
    const first = await Promise.race([firstMessage, deadline]);
    if (first === "timeout") return reject("timeout", GrpcCode.deadlineExceeded, "handshake timed out");
    if (typeof first === "string") return reject("malformed", GrpcCode.invalidArgument, first);
    const decoded = decodeHello(first);
    if (!decoded.ok) {
      return decoded.reason === "missing_credentials"
        ? reject("malformed", GrpcCode.unauthenticated, decoded.detail)
        : reject("malformed", GrpcCode.invalidArgument, decoded.detail);
    }
    const blocked = refuseBlocked();
    if (blocked) return blocked;
    const auto = decoded.hello.domain.toLowerCase() === AUTO_DOMAIN;
    if (auto && decoded.hello.protocolVersion !== 2) {
      return reject("malformed", GrpcCode.invalidArgument, "domain auto needs a v2 client");
    }
    const domain = auto ? { ok: true as const, domain: AUTO_DOMAIN } : normalizeDomain(decoded.hello.domain);
    if (!domain.ok) return reject("unknown_domain", GrpcCode.permissionDenied, "invalid domain or api key");
    const credentials: TunnelCredentials = {
      domain: domain.domain,
      apiKey: decoded.hello.apiKey,
      // Without an instance id (v1 clients) a label is this tunnel's alone.
      holder: decoded.hello.instanceId ? `instance:${decoded.hello.instanceId}` : `tunnel:${randomUUID()}`,
    };
    let verdict: TunnelVerdict | "timeout";
    const authenticating = options.authenticator.authenticate(credentials);
    try {
      verdict = await Promise.race([authenticating, deadline]);
    } catch (error) {
      if (!isHopGateError(error, "unavailable")) throw error;
      options.logger.warn({ err: error }, "store unavailable during a tunnel handshake");
      return reject("unavailable", GrpcCode.unavailable, "store unavailable; retry shortly");
    }
    if (verdict === "timeout") {
      // A label claimed after the deadline would otherwise stay held with no tunnel.
      authenticating.then(
        (late) => late.t === "ok" && late.lease?.release(),
        () => undefined,
      );
      return reject("timeout", GrpcCode.unavailable, "handshake timed out; retry shortly");
    }
    switch (verdict.t) {
      case "ok":
        options.onHandshake?.("ok", remoteAddress);
        return { ok: true, hello: { ...decoded.hello, domain: verdict.hostname }, lease: verdict.lease };
      case "unknown_domain":
      case "invalid_key":
        return reject(verdict.t, GrpcCode.permissionDenied, "invalid domain or api key");
      case "label_taken":
        return reject(verdict.t, GrpcCode.alreadyExists, verdict.message);
      case "label_limit":
        return reject(verdict.t, GrpcCode.resourceExhausted, verdict.message);
    }
  } finally {
    clearTimeout(timer);
  }
}
