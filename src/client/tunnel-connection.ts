import type { ServiceSpec } from "../config/service-spec.js";
import type { GcPacer } from "../lib/gc-pacer.js";
import type { Logger } from "../lib/logger.js";
import { frame } from "../protocol/frames.js";
import type { Envelope, StreamOpen } from "../protocol/gen/hopgate/protocol/v1/tunnel_pb.js";
import {
  GrpcCode,
  grpcCodeName,
  REJECT_REASON,
  RETRY_PUSHBACK_MS,
  type GrpcStatus,
} from "../protocol/grpc-status.js";
import { CAPABILITIES, encodeHello } from "../protocol/handshake.js";
import { startKeepalive, type Keepalive } from "../protocol/keepalive.js";
import { DEFAULT_TUNNEL_LIMITS, MAX_TUNNEL_MESSAGE_BYTES } from "../protocol/limits.js";
import { Multiplexer } from "../protocol/multiplexer.js";
import { OutboundQueue } from "../protocol/outbound-queue.js";
import type { TunnelStream } from "../protocol/tunnel-stream.js";
import type { BackendAgents } from "./backend-agents.js";
import { BackendExchange, type BackendExchangeRecord, type ExchangeTap } from "./backend-exchange.js";
import { Http2BackendExchange } from "./http2-backend-exchange.js";
import { backendRequestHead, type BackendRequestHead } from "./backend-request.js";
import { selectService } from "./service-selector.js";
import { runTunnelCall } from "./tunnel-call.js";
import type { TunnelHttp2Options } from "./tunnel-http2-session.js";
import {
  createTunnelSessionPool,
  type TunnelSessionLease,
  type TunnelSessionPool,
} from "./tunnel-session-pool.js";

export interface TunnelConnectionOptions {
  readonly serverUrl: string;
  /** The domain asked for: a name, or `auto` for a label the server assigns (v2 servers). */
  readonly domain: string;
  readonly apiKey: string;
  /** This client process's id (WireHeader.instance): a label it held is given back on reconnect. */
  readonly instanceId?: string;
  readonly services: readonly ServiceSpec[];
  readonly tls: TunnelHttp2Options["tls"];
  /** HTTP/2 connections shared with the client's other domains; a private one when omitted. */
  readonly sessions?: TunnelSessionPool;
  readonly agents: BackendAgents;
  readonly clientVersion: string;
  readonly logger: Logger;
  /** v1 keepalive (HTTP/2 PING); v2 uses the server's announced interval. */
  readonly pingIntervalMs: number;
  readonly pingTimeoutMs: number;
  readonly onRequestFinished?: (record: BackendExchangeRecord) => void;
  /** A tap on each exchange (the request inspector); untapped when omitted or it returns none. */
  readonly tapExchange?: (head: BackendRequestHead, service: ServiceSpec) => ExchangeTap | undefined;
  /** Paces young-generation GCs by the body bytes this tunnel moves. */
  readonly gcPacer?: GcPacer;
  /** The server asked this tunnel to drain: open a replacement now. */
  readonly onDrainRequested?: () => void;
  /**
   * The server accepted the tunnel (v2), or sent a first request (v1, which never confirms).
   * `hostname`: what the tunnel serves, when the server said (v2 servers that know wildcards).
   */
  readonly onEstablished?: (version: 1 | 2, hostname?: string) => void;
  /**
   * The gateway's live servers, as this (v2) server lists them: `initial` from TunnelAccept
   * (empty: the server does not say), then from each ServerList frame. Unvalidated.
   */
  readonly onServers?: (servers: readonly string[], initial: boolean) => void;
}

/** How long a finishing tunnel waits for the server to end the call after the last frames. */
const FINISH_GRACE_MS = 5_000;

export type ConnectionOutcome =
  | {
      readonly t: "ended";
      readonly reason: string;
      readonly uptimeMs: number;
      /** How it ended, for the reconnect metric: a bounded set of causes. */
      readonly cause: "connect_failed" | "server_closed" | "ping_timeout" | "stream_error" | "stopped";
    }
  | {
      readonly t: "rejected";
      /** gRPC status code (GrpcCode). */
      readonly code: number;
      readonly message: string;
      /** From the server's `hopgate-reject-reason` trailer (v2 servers). */
      readonly reason: string | undefined;
      /** The server's pushback (`grpc-retry-pushback-ms`): wait at least this long. */
      readonly retryAfterMs?: number;
    };

/**
 * One tunnel attempt: its own HTTP/2 connection, the handshake (v2 announced in v1's control-0
 * headers), then requests from the server answered by local services until the tunnel ends.
 * Until the server's TunnelAccept arrives the tunnel speaks v1; a request arriving first means
 * a v1 server, and the tunnel stays v1 for good.
 */
export class TunnelConnection {
  readonly done: Promise<ConnectionOutcome>;
  readonly #options: TunnelConnectionOptions;
  readonly #http2: TunnelSessionLease;
  readonly #outbound: OutboundQueue;
  readonly #mux: Multiplexer;
  readonly #abort = new AbortController();
  readonly #startedAtMs = Date.now();
  #keepalive: Keepalive;
  #sessionId: string | undefined;
  #versionKnown = false;
  #draining = false;
  #endReason: string | undefined;

  constructor(options: TunnelConnectionOptions) {
    this.#options = options;
    this.#http2 = (
      options.sessions ??
      createTunnelSessionPool({ serverUrl: options.serverUrl, tls: options.tls, connectTimeoutMs: 15_000 })
    ).acquire();
    this.#outbound = new OutboundQueue({
      batching: false,
      maxBatchBytes: 256 * 1024,
      highWaterBytes: 1024 * 1024,
    });
    this.#mux = new Multiplexer({
      outbound: this.#outbound,
      limits: DEFAULT_TUNNEL_LIMITS,
      version: 1,
      onRemoteOpen: (stream, open) => this.#onRequest(stream, open),
      onControl: (envelope) => this.#onControl(envelope),
      onViolation: (detail, streamId) =>
        options.logger.warn({ stream_id: streamId, detail }, "server broke the tunnel protocol"),
      onBodyBytes: options.gcPacer && ((bytes) => options.gcPacer?.moved(bytes)),
      onStreamFinished: () => {
        if (this.#draining && this.#mux.size === 0) this.#finish("drained");
      },
    });
    this.#keepalive = this.#startKeepalive(options.pingIntervalMs, options.pingTimeoutMs, (nonce) => {
      void this.#http2.ping().then((ok) => ok && this.#keepalive.pong(nonce));
    });
    const primary = options.services[0];
    this.#outbound.push(
      encodeHello({
        domain: options.domain,
        apiKey: options.apiKey,
        localTarget: primary ? primary.target.host : "",
        services: options.services.map(({ name, pathPrefix }) => ({ name, pathPrefix })),
        clientVersion: options.clientVersion,
        instanceId: options.instanceId,
      }),
    );
    this.done = this.#run();
  }

  get version(): 1 | 2 {
    return this.#mux.version;
  }

  get sessionId(): string | undefined {
    return this.#sessionId;
  }

  get inFlight(): number {
    return this.#mux.size;
  }

  /**
   * Graceful stop: a v2 server stops sending requests (Drain); in-flight ones finish within
   * `timeoutMs`, then the tunnel closes.
   */
  async drain(timeoutMs: number): Promise<void> {
    this.#draining = true;
    if (this.#mux.version === 2) this.#outbound.push(frame.drain(timeoutMs, "client shutting down"));
    if (this.#mux.size === 0) this.#finish("client shutting down");
    const timer = setTimeout(() => this.close("shutdown timeout"), timeoutMs);
    await this.done;
    clearTimeout(timer);
  }

  /** Ends the tunnel at once: queued frames are dropped, in-flight streams fail. */
  close(reason: string): void {
    this.#endReason ??= reason;
    this.#abort.abort();
  }

  /**
   * Ends the tunnel after the frames already queued (the last responses) have gone out: the
   * request side half-closes and the server ends the call. Aborts if the server does not.
   */
  #finish(reason: string): void {
    this.#endReason ??= reason;
    this.#outbound.end();
    setTimeout(() => this.close(reason), FINISH_GRACE_MS).unref();
  }

  async #run(): Promise<ConnectionOutcome> {
    const status = await runTunnelCall({
      open: (headers) => this.#http2.openStream(headers),
      outbound: this.#outbound,
      maxMessageBytes: MAX_TUNNEL_MESSAGE_BYTES,
      onMessage: (envelope) => this.#mux.receive(envelope),
      signal: this.#abort.signal,
      userAgent: this.#options.clientVersion,
    });
    const outcome = this.#outcomeOf(status);
    this.#keepalive.stop();
    this.#mux.failAll(`tunnel closed: ${outcome.t === "ended" ? outcome.reason : outcome.message}`);
    this.#outbound.end(true);
    this.#http2.release(
      outcome.t === "ended" && (outcome.cause === "ping_timeout" || outcome.cause === "connect_failed"),
    );
    return outcome;
  }

  #outcomeOf(status: GrpcStatus): ConnectionOutcome {
    if (this.#endReason !== undefined) {
      const cause = this.#endReason === "keepalive timeout" ? "ping_timeout" : "stopped";
      return this.#ended(this.#endReason, cause);
    }
    if (status.code === GrpcCode.ok) return this.#ended("server ended the tunnel", "server_closed");
    const rejected = [GrpcCode.permissionDenied, GrpcCode.unauthenticated, GrpcCode.invalidArgument].some(
      (code) => code === status.code,
    );
    const reason = status.metadata.get(REJECT_REASON);
    if (rejected || reason) {
      const retryAfterMs = pushbackMs(status.metadata.get(RETRY_PUSHBACK_MS));
      return { t: "rejected", code: status.code, message: status.message, reason, retryAfterMs };
    }
    return this.#ended(
      status.message || grpcCodeName(status.code),
      this.#versionKnown ? "stream_error" : "connect_failed",
    );
  }

  #ended(reason: string, cause: Extract<ConnectionOutcome, { t: "ended" }>["cause"]): ConnectionOutcome {
    return { t: "ended", reason, uptimeMs: Date.now() - this.#startedAtMs, cause };
  }

  #onRequest(stream: TunnelStream, open: StreamOpen): void {
    if (!this.#versionKnown) {
      this.#versionKnown = true; // a request before any TunnelAccept: a v1 server
      this.#options.logger.info("server did not acknowledge v2: speaking HopGate v1");
      this.#options.onEstablished?.(1);
    }
    const head = backendRequestHead(open);
    const version = this.#mux.version;
    const service =
      typeof head === "string"
        ? undefined
        : selectService(this.#options.services, open.serviceName, head.path, version);
    if (typeof head === "string" || !service) {
      const problem = typeof head === "string" ? head : `no service "${open.serviceName}"`;
      this.#options.logger.warn({ stream_id: open.id, problem }, "refused a request from the server");
      stream.abort(`refused: ${problem}`);
      return;
    }
    const exchange = {
      stream,
      service,
      head,
      version,
      agents: this.#options.agents,
      onFinished: (record: BackendExchangeRecord) => this.#options.onRequestFinished?.(record),
      tap: this.#options.tapExchange?.(head, service),
    };
    if (service.http2) new Http2BackendExchange(exchange);
    else new BackendExchange(exchange);
  }

  #onControl(envelope: Envelope): void {
    const payload = envelope.payload;
    switch (payload.case) {
      case "tunnelAccept": {
        const accept = payload.value;
        if (
          this.#versionKnown ||
          !this.#mux.upgrade(
            {
              ...DEFAULT_TUNNEL_LIMITS,
              windowBytes: accept.initialWindowBytes || DEFAULT_TUNNEL_LIMITS.windowBytes,
              maxChunkBytes: accept.maxChunkBytes || DEFAULT_TUNNEL_LIMITS.maxChunkBytes,
            },
            // Only what this build announced: a server naming more is not believed.
            accept.capabilities.filter((c) => CAPABILITIES.includes(c)),
          )
        )
          return;
        this.#versionKnown = true;
        this.#sessionId = accept.sessionId;
        this.#outbound.enableBatching();
        const intervalMs = accept.pingIntervalMs || this.#options.pingIntervalMs;
        this.#keepalive.stop();
        this.#keepalive = this.#startKeepalive(
          intervalMs,
          Math.max(intervalMs, this.#options.pingTimeoutMs),
          (nonce) => this.#outbound.push(frame.ping(nonce)),
        );
        this.#options.logger.info(
          {
            session_id: accept.sessionId,
            protocol: 2,
            ...(accept.hostname && { hostname: accept.hostname }),
          },
          "tunnel accepted",
        );
        this.#options.onEstablished?.(2, accept.hostname || undefined);
        this.#options.onServers?.(accept.servers, true);
        return;
      }
      case "serverList":
        // Only a v2 server sends it, after its TunnelAccept.
        if (this.#versionKnown && this.#mux.version === 2)
          this.#options.onServers?.(payload.value.servers, false);
        return;
      case "ping":
        this.#outbound.push(frame.pong(payload.value.nonce));
        return;
      case "pong":
        this.#keepalive.pong(payload.value.nonce);
        return;
      case "drain":
        this.#options.logger.info({ reason: payload.value.reason }, "server asked this tunnel to drain");
        this.#draining = true;
        this.#http2.retire();
        this.#options.onDrainRequested?.();
        if (this.#mux.size === 0) this.#finish("drained");
        return;
      default:
        return;
    }
  }

  #startKeepalive(intervalMs: number, timeoutMs: number, sendPing: (nonce: bigint) => void): Keepalive {
    return startKeepalive({
      intervalMs,
      timeoutMs,
      sendPing,
      onDead: () => {
        this.#options.logger.warn({ timeout_ms: timeoutMs }, "server stopped answering pings");
        this.close("keepalive timeout");
      },
    });
  }
}

/** gRFC A6: a non-negative integer of milliseconds; anything else is no pushback. */
function pushbackMs(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d{1,10}$/.test(value)) return undefined;
  return Number(value);
}
