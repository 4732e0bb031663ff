import type { Duplex } from "node:stream";
import { hostForRouting } from "../../lib/domain-name.js";
import type { HopGateErrorCode } from "../../lib/hopgate-error.js";
import { requestIdFrom } from "../../lib/request-id.js";
import type { TunnelStream } from "../../protocol/tunnel-stream.js";
import type { HeaderMap } from "../../protocol/wire-headers.js";
import type { AccessGate } from "../access/access-policies.js";
import type { PeerLookup, PeerTarget } from "../cluster/peer-routes.js";
import type { AccessDecision, AccessDenialReason, Reply, UpstreamHeaders } from "../access/decide.js";
import { createVisitorAddressOf, type VisitorAddressOf } from "../edge/visitor-address.js";
import type { TunnelLookup, TunnelRoute } from "../tunnel/session-registry.js";
import type { VisitorGate, VisitorLimitReason } from "../limits/visitor-limits.js";
import type { TrailerOutcome } from "../metrics/server-events.js";
import type { TunnelSession } from "../tunnel/session.js";
import { accessRecordOf, type AccessSink } from "./access-record.js";
import { errorPage, sendErrorPage, type SendOptions } from "./error-response.js";
import { ProxiedExchange, type ExchangeContext } from "./proxied-exchange.js";
import { relayRequest, relayUpgrade } from "./relayed-exchange.js";
import { requestHeaderMap } from "./request-head.js";
import { UpgradeExchange, responseHead } from "./upgrade-exchange.js";
import {
  hasBodyOfUnknownLength,
  hasRepeatedHost,
  visitorHost,
  visitorPath,
  type VisitorRequest,
  type VisitorResponse,
} from "./visitor.js";

export interface ProxyOptions {
  readonly lookup: TunnelLookup;
  /** Whether `domain` (normalized) is registered: unknown names get 404, known ones without a tunnel 502. */
  readonly isRegistered: (domain: string) => boolean;
  readonly proxyTimeoutMs: number;
  /**
   * How long a response write to a visitor may stay pending, none finishing, before the visitor
   * is given up and its backend request aborted (the idle timeout; nginx `send_timeout`).
   */
  readonly sendTimeoutMs: number;
  /**
   * How long a visitor may send no request-body bytes mid-body before the exchange is given up:
   * 408 (or a reset response) and the backend request aborted (nginx `client_body_timeout`).
   */
  readonly bodyTimeoutMs?: number;
  /**
   * How long a request for a registered domain without a live tunnel waits for one before its
   * 502 (a client reconnecting, a replaced server's clients moving over); 0: no wait.
   */
  readonly tunnelWaitMs: () => number;
  readonly onFinished: AccessSink;
  /** Per-address limits, asked first for every request; none when absent. */
  readonly gate?: VisitorGate;
  /** Largest request body forwarded (413 beyond it); 0 or absent = no limit. Upgrades are exempt. */
  readonly maxBodyBytes?: number;
  /** Keep a valid visitor-sent X-Request-ID (behind a trusted proxy); absent = always a new id. */
  readonly trustRequestId?: boolean;
  /** A visitor was turned away by a limit (429 or 413). */
  readonly onLimited?: (reason: VisitorLimitReason) => void;
  /** A response trailer section was sent, dropped or refused (ExchangeContext.onTrailers). */
  readonly onTrailers?: (outcome: TrailerOutcome) => void;
  /**
   * The domains' visitor access policies, asked for every request to a registered domain after
   * the per-address limits and before any tunnel is touched; none when absent.
   */
  readonly access?: AccessGate;
  /** A visitor was refused by its domain's access policy. */
  readonly onAccessDenied?: (reason: AccessDenialReason) => void;
  /**
   * Who the visitor is, asked once per request: for the limits, the access policy, the access
   * log and the backend's forwarding headers. Absent: the TCP peer, whatever the request says.
   */
  readonly visitorAddress?: VisitorAddressOf;
  /**
   * The other servers of the gateway (docs/scale-out.md): a request that no local tunnel can take
   * is relayed to a peer holding one, after every check above. Absent on a single server, and on
   * the holder's side of a relay, so that no request is ever relayed twice.
   */
  readonly peers?: PeerLookup;
}

export interface Proxy {
  readonly handleRequest: (req: VisitorRequest, res: VisitorResponse) => void;
  /** HTTP/1.1 `upgrade` event of the edge (WebSocket). */
  readonly handleUpgrade: (req: VisitorRequest, socket: Duplex, head: Buffer) => void;
}

/**
 * The reverse proxy core: Host (lowercased, port and trailing dot stripped), then the longest
 * path prefix among the services of the domain's live tunnels; the request then travels as one
 * tunnel stream. A session at its stream limit is skipped for another of the same domain.
 */
export function createProxy(options: ProxyOptions): Proxy {
  const onLimited = (reason: VisitorLimitReason) => options.onLimited?.(reason);
  const visitorAddressOf = options.visitorAddress ?? createVisitorAddressOf([]);
  /**
   * Everything decided before a tunnel is looked at: Host, per-address limits, body size,
   * registration, then the domain's access policy (asynchronous only when a password is hashed).
   * Every request and every upgrade of every protocol passes here exactly once.
   */
  const admit = (req: VisitorRequest, upgrade: boolean): Admitted | Promise<Admitted> => {
    const requestId = requestIdFrom(req.headers["x-request-id"], options.trustRequestId ?? false);
    const domain = hostForRouting(visitorHost(req));
    const visitor = visitorAddressOf(req);
    const context: ExchangeContext = {
      requestId,
      domain,
      startedAtMs: Date.now(),
      proxyTimeoutMs: options.proxyTimeoutMs,
      sendTimeoutMs: options.sendTimeoutMs,
      bodyTimeoutMs: upgrade ? 0 : (options.bodyTimeoutMs ?? 0),
      remoteAddress: visitor.address ?? "unknown",
      forwardedFor: visitor.chain,
      relayedBy: visitor.relayedBy,
      maxBodyBytes: upgrade ? 0 : (options.maxBodyBytes ?? 0),
      onFinished: options.onFinished,
      onLimited,
      onTrailers: (outcome) => options.onTrailers?.(outcome),
    };
    if (hasRepeatedHost(req)) return { ok: false, context, error: "invalid_input", closeConnection: true };
    const admission = options.gate?.admit(req, visitor.address) ?? { ok: true };
    if (!admission.ok) {
      onLimited(admission.reason);
      return {
        ok: false,
        context,
        error: "rate_limited",
        headers: { "retry-after": String(admission.retryAfterSeconds) },
        closeConnection: admission.closeConnection,
      };
    }
    if (declaredBodyBytes(req) > (context.maxBodyBytes || Infinity)) {
      onLimited("body");
      return { ok: false, context, error: "payload_too_large" };
    }
    if (!options.isRegistered(domain)) return { ok: false, context, error: "not_found" };
    const decision = options.access?.check(domain, req, visitor);
    if (decision === undefined) return { ok: true, context };
    return decision instanceof Promise
      ? decision.then((d) => afterAccess(d, context))
      : afterAccess(decision, context);
  };

  const afterAccess = (decision: AccessDecision, context: ExchangeContext): Admitted => {
    if (decision.ok) return { ok: true, context, upstream: decision.upstream };
    options.onAccessDenied?.(decision.reason);
    return {
      ok: false,
      context,
      error: decision.code,
      headers: decision.headers,
      denied: decision.reason,
      reply: decision.reply,
    };
  };

  /** The tunnel stream of an admitted request; run again after a wait for a tunnel. */
  const open = (req: VisitorRequest, admitted: Admitted & { ok: true }, upgrade: boolean): Prepared => {
    const { context } = admitted;
    const rawHeaders = admitted.upstream
      ? withUpstreamHeaders(req.rawHeaders, admitted.upstream)
      : req.rawHeaders;
    const opened = openStream(options.lookup, context.domain, visitorPath(req.url), upgrade);
    if (!opened) {
      const peer = options.peers?.find(context.domain);
      if (peer) return { ok: true, via: "peer", context, peer, rawHeaders };
      return { ok: false, context, error: "tunnel_unavailable" };
    }
    const header = requestHeaderMap(
      {
        method: req.method ?? "GET",
        url: req.url ?? "/",
        host: visitorHost(req),
        rawHeaders,
        forwardedFor: context.forwardedFor,
        requestId: context.requestId,
        upgrade,
        bodyOfUnknownLength: !upgrade && hasBodyOfUnknownLength(req),
      },
      opened.route.session.version,
    );
    return { ok: true, via: "tunnel", context, ...opened, header };
  };

  const record = (
    req: VisitorRequest,
    context: ExchangeContext,
    status: number,
    error: HopGateErrorCode | "client_abort",
    denied?: AccessDenialReason,
  ) =>
    context.onFinished({
      ...accessRecordOf(req, context, { status, bytesIn: 0, bytesOut: 0, sessionId: undefined, error }),
      ...(denied && { accessDenied: denied }),
    });

  /** Runs `then` with the admission, at once when it was decided synchronously. */
  const afterAdmission = (admitted: Admitted | Promise<Admitted>, then: (admitted: Admitted) => void) => {
    if (!(admitted instanceof Promise)) return then(admitted);
    // The decision never rejects (decide.ts turns a failed hash into 503): nothing to catch.
    void admitted.then(then);
  };

  return {
    handleRequest: (req, res) => {
      afterAdmission(admit(req, false), (admitted) => {
        // The visitor left while its password was hashed: nothing to open a stream for.
        if (res.destroyed)
          return record(req, admitted.context, 0, "client_abort", admitted.ok ? undefined : admitted.denied);
        const prepared = admitted.ok ? open(req, admitted, false) : admitted;
        if (admitted.ok && mayWait(prepared)) {
          const retry = () => !res.destroyed && answerRequest(req, res, open(req, admitted, false));
          return void waitForRoute(prepared.context.domain).then(retry);
        }
        answerRequest(req, res, prepared);
      });
    },

    handleUpgrade: (req, socket, head) => {
      // Nothing is read from the visitor until its request is admitted and a stream is open.
      socket.pause();
      afterAdmission(admit(req, true), (admitted) => {
        if (socket.destroyed)
          return record(req, admitted.context, 0, "client_abort", admitted.ok ? undefined : admitted.denied);
        const prepared = admitted.ok ? open(req, admitted, true) : admitted;
        if (admitted.ok && mayWait(prepared)) {
          const retry = () =>
            !socket.destroyed && answerUpgrade(req, socket, head, open(req, admitted, true));
          return void waitForRoute(prepared.context.domain).then(retry);
        }
        answerUpgrade(req, socket, head, prepared);
      });
    },
  };

  /**
   * Resolves once a local tunnel or a peer serves `domain`, or after the tunnel wait. The wait
   * that did not settle first is cancelled: no waiter or timer of it outlives the race.
   */
  async function waitForRoute(domain: string): Promise<boolean> {
    const waitMs = options.tunnelWaitMs();
    if (!options.peers) return options.lookup.waitForTunnel(domain, waitMs);
    const loser = new AbortController();
    try {
      return await Promise.race([
        options.lookup.waitForTunnel(domain, waitMs, loser.signal),
        options.peers.waitFor(domain, waitMs, loser.signal),
      ]);
    } finally {
      loser.abort();
    }
  }

  /** No live tunnel for a registered domain (not merely all at their stream limit): wait for one. */
  function mayWait(prepared: Prepared): boolean {
    return (
      !prepared.ok &&
      prepared.error === "tunnel_unavailable" &&
      options.tunnelWaitMs() > 0 &&
      !options.lookup.hasTunnel(prepared.context.domain)
    );
  }

  function answerRequest(req: VisitorRequest, res: VisitorResponse, prepared: Prepared): void {
    if (!prepared.ok) {
      const { error, context } = prepared;
      const status = prepared.reply
        ? sendReply(res, prepared.reply)
        : sendErrorPage(req, res, error, context.requestId, prepared);
      if (error !== "payload_too_large") req.resume();
      return record(req, context, status, error, prepared.denied);
    }
    if (prepared.via === "peer")
      return relayRequest(req, res, prepared.peer, prepared.context, prepared.rawHeaders);
    const { route, stream, header, context } = prepared;
    new ProxiedExchange(req, res, stream, route.session, context).start(route.service.name, header);
  }

  function answerUpgrade(req: VisitorRequest, socket: Duplex, head: Buffer, prepared: Prepared): void {
    if (!prepared.ok && prepared.reply) {
      const { status, headers, body } = prepared.reply;
      socket.end(
        Buffer.concat([Buffer.from(responseHead(status, { ...headers, connection: "close" })), body]),
      );
      return record(req, prepared.context, status, prepared.error, prepared.denied);
    }
    if (!prepared.ok) {
      const page = errorPage(prepared.error, prepared.context.requestId, req.headers.accept);
      const headers = { ...page.headers, ...prepared.headers, connection: "close" };
      socket.end(responseHead(page.status, headers) + page.body);
      return record(req, prepared.context, page.status, prepared.error, prepared.denied);
    }
    if (prepared.via === "peer")
      return relayUpgrade(req, socket, head, prepared.peer, prepared.context, prepared.rawHeaders);
    const { route, stream, header, context } = prepared;
    new UpgradeExchange(req, socket, stream, route.session, context).start(route.service.name, header, head);
  }
}

/** `headers` and `closeConnection` go with the error page (SendOptions). */
type Refused = SendOptions & {
  readonly ok: false;
  readonly context: ExchangeContext;
  readonly error: HopGateErrorCode;
  /** Set when the domain's access policy refused the request. */
  readonly denied?: AccessDenialReason;
  /** Sent instead of the error page (forward auth's own answer). */
  readonly reply?: Reply;
};

/** A request past every check that needs no tunnel, or its refusal. */
type Admitted =
  Refused | { readonly ok: true; readonly context: ExchangeContext; readonly upstream?: UpstreamHeaders };

/** The visitor's header lines without `upstream.strip` names, with `upstream.add` appended. */
function withUpstreamHeaders(raw: readonly string[], upstream: UpstreamHeaders): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (!upstream.strip.includes(raw[i]!.toLowerCase())) out.push(raw[i]!, raw[i + 1]!);
  }
  for (const [name, value] of upstream.add) out.push(name, value);
  return out;
}

/** Answers with `reply` as it is (nothing when a response is already under way); returns its status. */
function sendReply(res: VisitorResponse, reply: Reply): number {
  if (res.headersSent || res.destroyed) return reply.status;
  res.writeHead(reply.status, reply.headers);
  res.end(reply.body);
  return reply.status;
}

/** The Content-Length a visitor declared (node has checked its syntax), or 0. */
function declaredBodyBytes(req: VisitorRequest): number {
  const length = req.headers["content-length"];
  return length === undefined ? 0 : Number(length);
}

type Prepared =
  | Refused
  | {
      readonly ok: true;
      readonly via: "tunnel";
      readonly context: ExchangeContext;
      readonly route: TunnelRoute;
      readonly stream: TunnelStream;
      readonly header: HeaderMap;
    }
  | {
      readonly ok: true;
      readonly via: "peer";
      readonly context: ExchangeContext;
      readonly peer: PeerTarget;
      /** The visitor's header lines after the access policy's changes. */
      readonly rawHeaders: readonly string[];
    };

/** v1 clients buffer whole request bodies and know no upgrades: upgrades need a v2 session. */
function openStream(
  lookup: TunnelLookup,
  domain: string,
  path: string,
  upgrade: boolean,
): { route: TunnelRoute; stream: TunnelStream } | undefined {
  const skipped = new Set<TunnelSession>();
  for (;;) {
    const route = lookup.route(domain, path, skipped);
    if (!route) return undefined;
    const stream = upgrade && route.session.version === 1 ? undefined : route.session.openStream();
    if (stream) return { route, stream };
    skipped.add(route.session);
  }
}
