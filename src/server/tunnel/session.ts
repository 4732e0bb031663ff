import type { GcPacer } from "../../lib/gc-pacer.js";
import type { Logger } from "../../lib/logger.js";
import type { Envelope } from "../../protocol/gen/hopgate/protocol/v1/tunnel_pb.js";
import { frame } from "../../protocol/frames.js";
import type { ClientHello, ServiceRoute } from "../../protocol/handshake.js";
import { startKeepalive, type Keepalive, type KeepaliveOptions } from "../../protocol/keepalive.js";
import { Multiplexer, type MultiplexerLimits, type MultiplexerOptions } from "../../protocol/multiplexer.js";
import { OutboundQueue } from "../../protocol/outbound-queue.js";
import type { StreamSink, TunnelStream } from "../../protocol/tunnel-stream.js";
import type { SessionInfo } from "./session-directory.js";
import { VIOLATION_LOG_LIMITS, ViolationLog } from "./violation-log.js";

/** The connection under a session: only what the session may do to it. */
export interface SessionTransport {
  /** HTTP/2 PING (v1 keepalive); resolves with false when unanswered or impossible. */
  ping(): Promise<boolean>;
  /** Tears the connection down at once (dead peer, violation). */
  destroy(): void;
}

export interface SessionOptions {
  readonly id: string;
  readonly domain: string;
  readonly remoteAddress: string;
  readonly hello: ClientHello;
  readonly limits: MultiplexerLimits;
  readonly pingIntervalMs: number;
  readonly pingTimeoutMs: number;
  readonly transport: SessionTransport;
  readonly logger: Logger;
  readonly onStreamFinished?: (stream: TunnelStream) => void;
  readonly onClosed: (session: TunnelSession, reason: string) => void;
  readonly gcPacer?: GcPacer;
}

export type SessionState =
  | { readonly t: "active" }
  | { readonly t: "draining"; readonly deadlineMs: number }
  | { readonly t: "closed"; readonly reason: string };

/** Outbound bytes queued per tunnel before senders wait: a few chunks, enough to keep the pipe full. */
const OUTBOUND_HIGH_WATER_BYTES = 1024 * 1024;
const MAX_BATCH_BYTES = 256 * 1024;

/**
 * One authenticated client tunnel on the server: its identity, its stream table (through the
 * multiplexer), keepalive and drain. Request streams are opened here with ids `http-<n>`, a
 * per-tunnel counter from 0 as v1 clients expect.
 */
export class TunnelSession {
  readonly id: string;
  readonly domain: string;
  readonly remoteAddress: string;
  readonly version: 1 | 2;
  readonly services: readonly ServiceRoute[];
  readonly clientVersion: string;
  readonly connectedAtMs = Date.now();
  readonly outbound: OutboundQueue;
  readonly #mux: Multiplexer;
  readonly #options: SessionOptions;
  readonly #keepalive: Keepalive;
  /** Made at the first violation: most sessions have none. */
  #violationLog: ViolationLog | undefined;
  #state: SessionState = { t: "active" };
  #nextStream = 0;
  #drainTimer: NodeJS.Timeout | undefined;

  constructor(options: SessionOptions) {
    this.#options = options;
    this.id = options.id;
    this.domain = options.domain;
    this.remoteAddress = options.remoteAddress;
    this.version = options.hello.protocolVersion;
    this.services = options.hello.services;
    this.clientVersion = options.hello.clientVersion;
    this.outbound = new OutboundQueue({
      batching: this.version === 2,
      maxBatchBytes: MAX_BATCH_BYTES,
      highWaterBytes: OUTBOUND_HIGH_WATER_BYTES,
    });
    const hooks = new TunnelSession.#Hooks(this);
    this.#mux = new Multiplexer(hooks);
    this.#mux.enableCapabilities(options.hello.capabilities);
    this.#keepalive = startKeepalive(hooks);
  }

  /**
   * The multiplexer's and keepalive's options and callbacks for one session, as one object with
   * methods instead of an options object and a closure per callback (a server holds one set per
   * idle tunnel, docs/performance.md change 19). Declared in the class body to reach the
   * session's private members.
   */
  static readonly #Hooks = class SessionHooks implements MultiplexerOptions, KeepaliveOptions {
    readonly #session: TunnelSession;

    constructor(session: TunnelSession) {
      this.#session = session;
    }

    get outbound(): OutboundQueue {
      return this.#session.outbound;
    }

    get limits(): MultiplexerLimits {
      return this.#session.#options.limits;
    }

    get version(): 1 | 2 {
      return this.#session.version;
    }

    get intervalMs(): number {
      return this.#session.#options.pingIntervalMs;
    }

    get timeoutMs(): number {
      return this.#session.#options.pingTimeoutMs;
    }

    onControl(envelope: Envelope): void {
      this.#session.#onControl(envelope);
    }

    finishedHere(id: string): boolean {
      return this.#session.#openedBefore(id);
    }

    onViolation(detail: string, streamId: string | undefined): void {
      this.#session.#violations.report(detail, streamId);
    }

    onBodyBytes(bytes: number): void {
      this.#session.#options.gcPacer?.moved(bytes);
    }

    onStreamFinished(stream: TunnelStream): void {
      const session = this.#session;
      session.#options.onStreamFinished?.(stream);
      if (session.#state.t === "draining" && session.#mux.size === 0) session.close("drained");
    }

    sendPing(nonce: bigint): void {
      const session = this.#session;
      if (session.version === 2) session.outbound.push(frame.ping(nonce));
      else void session.#options.transport.ping().then((ok) => ok && session.#keepalive.pong(nonce));
    }

    onDead(): void {
      this.#session.close("keepalive timeout");
      this.#session.#options.transport.destroy();
    }
  };

  get state(): SessionState {
    return this.#state;
  }

  /** The capabilities both sides speak (TunnelAccept.capabilities); none on v1. */
  get capabilities(): readonly string[] {
    return this.version === 2 ? this.#options.hello.capabilities : [];
  }

  get inFlight(): number {
    return this.#mux.size;
  }

  /** A new request stream, or undefined when the session is not active or at its stream limit. */
  openStream(): TunnelStream | undefined {
    if (this.#state.t !== "active") return undefined;
    const stream = this.#mux.open(`http-${this.#nextStream}`);
    if (stream) this.#nextStream++;
    return stream;
  }

  /** One frame from the client; a promise (v1 only) holds the tunnel's reading until it settles. */
  receive(envelope: Envelope): void | Promise<void> {
    if (this.#state.t === "closed") return;
    return this.#mux.receive(envelope);
  }

  /**
   * Stops routing new requests here; in-flight streams get until `deadlineMs` from now. v2
   * clients are told (Drain) so they open a replacement tunnel at once.
   */
  drain(deadlineMs: number, reason: string, notifyClient = true): void {
    if (this.#state.t !== "active") return;
    this.#state = { t: "draining", deadlineMs: Date.now() + deadlineMs };
    if (this.version === 2 && notifyClient) this.outbound.push(frame.drain(deadlineMs, reason));
    if (this.#mux.size === 0) return this.close("drained");
    this.#drainTimer = setTimeout(() => this.close("drain deadline passed"), deadlineMs).unref();
  }

  /**
   * The client broke the protocol on `stream` in what the proxy reads of it (a response head or
   * body): the reason is logged (bounded, ViolationLog), the stream is aborted towards the client,
   * and `sink`, the stream's reader, hears `abort(reason, "violation")` as it does for the
   * violations the multiplexer finds (framing, credit), so that one path answers the visitor.
   */
  streamViolation(stream: TunnelStream, sink: StreamSink, detail: string): void {
    this.#violations.report(detail, stream.id);
    const reason = `protocol violation: ${detail}`;
    stream.abort(reason);
    sink.abort(reason, "violation");
  }

  /** Ends the session: in-flight streams fail at once, the response stream finishes. */
  close(reason: string): void {
    if (this.#state.t === "closed") return;
    this.#state = { t: "closed", reason };
    this.#keepalive.stop();
    clearTimeout(this.#drainTimer);
    this.#mux.failAll(`tunnel closed: ${reason}`);
    this.outbound.end();
    this.#violationLog?.close();
    this.#options.onClosed(this, reason);
  }

  info(): SessionInfo {
    return {
      id: this.id,
      domain: this.domain,
      remoteAddress: this.remoteAddress,
      protocolVersion: this.version,
      services: this.services.map(({ name, pathPrefix }) => ({ name, pathPrefix })),
      connectedAt: new Date(this.connectedAtMs).toISOString(),
      state: this.#state.t === "draining" ? "draining" : "active",
      inFlightStreams: this.#mux.size,
      bytesToClient: this.#mux.bytesSent,
      bytesFromClient: this.#mux.bytesReceived,
    };
  }

  get #violations(): ViolationLog {
    return (this.#violationLog ??= new ViolationLog({
      logger: this.#options.logger,
      fields: { session_id: this.id, domain: this.domain },
      ...VIOLATION_LOG_LIMITS,
    }));
  }

  /** `id` is one of this session's request stream ids already handed out (`http-<n>`, n below the counter). */
  #openedBefore(id: string): boolean {
    const match = /^http-(0|[1-9]\d{0,15})$/.exec(id);
    return match !== null && Number(match[1]) < this.#nextStream;
  }

  #onControl(envelope: Envelope): void {
    const payload = envelope.payload;
    switch (payload.case) {
      case "ping":
        this.outbound.push(frame.pong(payload.value.nonce));
        return;
      case "pong":
        this.#keepalive.pong(payload.value.nonce);
        return;
      case "drain":
        this.#options.logger.info(
          { session_id: this.id, reason: payload.value.reason },
          "client is draining",
        );
        this.drain(payload.value.deadlineMs || 30_000, payload.value.reason || "client draining", false);
        return;
      default:
        this.#violations.report(`unexpected ${payload.case ?? "empty"} frame from the client`, undefined);
    }
  }
}
