import { Counter, Gauge, type Registry } from "prom-client";
import { registerProcessMetrics } from "../../lib/process-metrics.js";
import { REQUEST_DURATION_BUCKETS_SECONDS } from "../../lib/metric-labels.js";
import { VISITOR_REJECTION_REASONS, type VisitorRejectionReason } from "../edge/client-error.js";
import { CONNECTION_DROP_REASONS, type ConnectionDropReason } from "../edge/tls-listener.js";
import { VISITOR_LIMIT_REASONS, type VisitorLimitReason } from "../limits/visitor-limits.js";
import { ACCESS_DENIAL_REASONS, type AccessDenialReason } from "../access/decide.js";
import { createRequestSeries } from "./request-series.js";
import {
  ACME_ORDER_RESULTS,
  AUTH_FAILURE_HANDSHAKES,
  AUTH_FAILURE_KINDS,
  HANDSHAKE_RESULTS,
  PROXY_DIRECTIONS,
  PROXY_ERROR_TYPES,
  TRAILER_OUTCOMES,
  TUNNEL_PROTOCOLS,
  type AcmeOrderResult,
  type CertificateExpirySource,
  type FinishedRequest,
  type HandshakeResult,
  type ProxyDirection,
  type ProxyErrorType,
  type SessionSource,
  type TrailerOutcome,
  type TunnelProtocol,
} from "./server-events.js";

export interface ServerMetricsOptions {
  readonly registry: Registry;
  /** Whether `domain` (normalized) is registered now; only registered domains become label values. */
  readonly isRegisteredDomain: (domain: string) => boolean;
  /** Told when the certificate expiry source throws at scrape time; the last values are kept. */
  readonly onCollectError?: (error: unknown) => void;
}

/**
 * What the server's components report. One method per event; every method is cheap enough for
 * the hot path (cached label children, plain counters folded into series at scrape time) and
 * never throws on odd input (a NaN duration is dropped, not thrown).
 */
export interface ServerMetrics {
  /**
   * One visitor request finished on the server the visitor reached (also one answered with an
   * error page, and one relayed to a peer): each visitor request is counted once in the gateway.
   */
  requestFinished(request: FinishedRequest): void;
  /** This server's tunnel served a request a peer relayed here (the peer counted the request). */
  relayedRequestServed(request: FinishedRequest): void;
  proxyError(type: ProxyErrorType): void;
  /** Body bytes as they pass through a tunnel; call per chunk, long streams count as they flow. */
  proxyBytes(direction: ProxyDirection, bytes: number): void;
  /**
   * A handshake ended; `invalid_key` and `unknown_domain` also count as tunnel auth failures,
   * `rate_limited` as a tunnel attempt refused from a blocked address.
   */
  handshake(result: HandshakeResult): void;
  tunnelOpened(protocol: TunnelProtocol): void;
  tunnelClosed(protocol: TunnelProtocol): void;
  streamOpened(): void;
  streamClosed(): void;
  acmeOrder(result: AcmeOrderResult): void;
  /** A request to the admin API carried a missing or wrong key. */
  adminAuthFailure(): void;
  /** A request to the admin API was refused (429) because its address is blocked. */
  adminAuthBlocked(): void;
  /** A visitor was turned away by a per-address limit (429) or the body limit (413). */
  visitorLimited(reason: VisitorLimitReason): void;
  /** A visitor was refused by its domain's access policy (docs/access.md). */
  accessDenied(reason: AccessDenialReason): void;
  /** A listener refused a request before routing it (parser error, timeout, head too large). */
  visitorRejected(reason: VisitorRejectionReason): void;
  /** A response's trailer section was sent, dropped or refused (server-events.ts). */
  responseTrailers(outcome: TrailerOutcome): void;
  /** The TLS listener closed a connection itself: over the open-connection cap, or a slow handshake. */
  connectionDropped(reason: ConnectionDropReason): void;
  /** Read at every scrape for `hopgate_certificate_expiry_timestamp_seconds`. */
  setCertificateExpirySource(source: CertificateExpirySource): void;
  /**
   * Read at every scrape for `hopgate_tunnels_active` and `hopgate_streams_in_flight`, replacing
   * what the tunnel and stream events counted: the registry's own state cannot drift.
   */
  setSessionSource(source: SessionSource): void;
  /** Drops the request series of an unregistered domain so that they do not linger until restart. */
  forgetDomain(domain: string): void;
}

/**
 * Registers every HopGate server series (and Node's process metrics) on `registry`. Call once
 * per registry: prom-client refuses a second registration of the same name.
 */
export function createServerMetrics(options: ServerMetricsOptions): ServerMetrics {
  const registers = [options.registry];
  registerProcessMetrics(options.registry);

  const requests = createRequestSeries({
    registers,
    isRegisteredDomain: options.isRegisteredDomain,
    total: {
      name: "hopgate_http_requests_total",
      help: "Proxied HTTP requests by method, status code and registered domain (_other otherwise)",
    },
    duration: {
      name: "hopgate_http_request_duration_seconds",
      help: "Time from request received to response finished, by method and registered domain",
      buckets: REQUEST_DURATION_BUCKETS_SECONDS,
    },
  });

  const relayed = createRequestSeries({
    registers,
    isRegisteredDomain: options.isRegisteredDomain,
    total: {
      name: "hopgate_peer_relayed_requests_total",
      help: "Requests another server of the gateway relayed here and this server's tunnel served, by method, status code and registered domain (counted in hopgate_http_requests_total by that server)",
    },
    duration: {
      name: "hopgate_peer_relayed_request_duration_seconds",
      help: "This server's part of relayed requests: relayed request received to response finished, by method and registered domain",
      buckets: REQUEST_DURATION_BUCKETS_SECONDS,
    },
  });

  const proxyErrors = labelledCounter(
    "hopgate_proxy_errors_total",
    "Failed proxied requests by cause",
    "type",
  );
  const proxyErrorChildren = childrenOf(proxyErrors, PROXY_ERROR_TYPES);
  const handshakes = labelledCounter(
    "hopgate_tunnel_handshakes_total",
    "Tunnel handshakes by result",
    "result",
  );
  const handshakeChildren = childrenOf(handshakes, HANDSHAKE_RESULTS);
  const authFailures = labelledCounter(
    "hopgate_auth_failures_total",
    "Rejected credentials: tunnel handshakes with a wrong domain or key, admin requests with a wrong key",
    "kind",
  );
  const authChildren = childrenOf(authFailures, AUTH_FAILURE_KINDS);
  const authBlocked = labelledCounter(
    "hopgate_auth_blocked_total",
    "Attempts refused without checking credentials because their address had too many failures",
    "kind",
  );
  const authBlockedChildren = childrenOf(authBlocked, AUTH_FAILURE_KINDS);
  const acmeOrders = labelledCounter("hopgate_acme_orders_total", "ACME orders by result", "result");
  const acmeChildren = childrenOf(acmeOrders, ACME_ORDER_RESULTS);
  const visitorLimited = labelledCounter(
    "hopgate_visitor_limited_total",
    "Visitor requests refused by a limit: connections or rate per address (429), body size (413)",
    "reason",
  );
  const visitorLimitedChildren = childrenOf(visitorLimited, VISITOR_LIMIT_REASONS);
  const accessDenied = labelledCounter(
    "hopgate_access_denied_total",
    "Visitor requests refused by their domain's access policy: ip_denied, ip_not_allowed, secret_header (403), basic_auth (401), rate, auth_blocked (429), busy (503), forward_auth (the auth service's answer), forward_auth_failed (503), ambiguous_path (400: forward auth is not asked about a path a backend could read as another, unless the domain's forward_auth.allow_ambiguous_paths lets that form through)",
    "reason",
  );
  const accessDeniedChildren = childrenOf(accessDenied, ACCESS_DENIAL_REASONS);
  const visitorRejected = labelledCounter(
    "hopgate_visitor_rejected_total",
    "Visitor requests refused before routing: malformed (400), framing (400), header_too_large (431), timeout (408)",
    "reason",
  );
  const visitorRejectedChildren = childrenOf(visitorRejected, VISITOR_REJECTION_REASONS);
  const connectionsDropped = labelledCounter(
    "hopgate_connections_dropped_total",
    "Connections the TLS listener closed itself: max_connections (over HOP_SERVER_MAX_CONNECTIONS), handshake_timeout",
    "reason",
  );
  const connectionsDroppedChildren = childrenOf(connectionsDropped, CONNECTION_DROP_REASONS);
  const responseTrailers = labelledCounter(
    "hopgate_response_trailers_total",
    "Response trailer sections from tunnels: sent to the visitor, dropped (an HTTP/1.1 visitor without TE: trailers, a response with Content-Length or without a body, no field allowed as a trailer), refused (malformed: the stream is aborted)",
    "outcome",
  );
  const responseTrailersChildren = childrenOf(responseTrailers, TRAILER_OUTCOMES);

  let sessionSource: SessionSource | undefined;
  const liveCounts = {
    tunnels: new Map<TunnelProtocol, number>(TUNNEL_PROTOCOLS.map((p) => [p, 0])),
    streams: 0,
  };
  new Gauge({
    name: "hopgate_tunnels_active",
    help: "Tunnel sessions past their handshake, by protocol mode (1 or 2)",
    labelNames: ["protocol"] as const,
    registers,
    collect() {
      const counts = sessionSource ? countSessions(sessionSource).tunnels : liveCounts.tunnels;
      for (const [protocol, count] of counts) this.set({ protocol: String(protocol) }, count);
    },
  });
  new Gauge({
    name: "hopgate_streams_in_flight",
    help: "Requests currently carried by tunnels",
    registers,
    collect() {
      this.set(sessionSource ? countSessions(sessionSource).streams : liveCounts.streams);
    },
  });

  const pendingBytes: Record<ProxyDirection, number> = { to_client: 0, from_client: 0 };
  new Counter({
    name: "hopgate_proxy_bytes_total",
    help: "Body bytes through tunnels: to_client = requests sent into tunnels, from_client = responses",
    labelNames: ["direction"] as const,
    registers,
    collect() {
      for (const direction of PROXY_DIRECTIONS) {
        this.inc({ direction }, pendingBytes[direction]);
        pendingBytes[direction] = 0;
      }
    },
  });

  let expirySource: CertificateExpirySource | undefined;
  new Gauge({
    name: "hopgate_certificate_expiry_timestamp_seconds",
    help: "notAfter of each certificate the server holds, in seconds since the epoch",
    labelNames: ["domain"] as const,
    registers,
    async collect() {
      if (!expirySource) return;
      try {
        const certificates = [...(await expirySource())];
        this.reset();
        for (const { domain, notAfterMs } of certificates)
          this.set({ domain }, Math.floor(notAfterMs / 1000));
      } catch (error) {
        options.onCollectError?.(error);
      }
    },
  });

  return {
    requestFinished: requests.record,
    relayedRequestServed: relayed.record,
    proxyError: (type) => proxyErrorChildren.get(type)?.inc(),
    proxyBytes(direction, bytes) {
      if (bytes > 0) pendingBytes[direction] += bytes;
    },
    handshake(result) {
      handshakeChildren.get(result)?.inc();
      if (AUTH_FAILURE_HANDSHAKES.has(result)) authChildren.get("tunnel")?.inc();
      if (result === "rate_limited") authBlockedChildren.get("tunnel")?.inc();
    },
    tunnelOpened: (protocol) =>
      void liveCounts.tunnels.set(protocol, (liveCounts.tunnels.get(protocol) ?? 0) + 1),
    tunnelClosed: (protocol) =>
      void liveCounts.tunnels.set(protocol, (liveCounts.tunnels.get(protocol) ?? 0) - 1),
    streamOpened: () => void liveCounts.streams++,
    streamClosed: () => void liveCounts.streams--,
    acmeOrder: (result) => acmeChildren.get(result)?.inc(),
    adminAuthFailure: () => authChildren.get("admin")?.inc(),
    adminAuthBlocked: () => authBlockedChildren.get("admin")?.inc(),
    visitorLimited: (reason) => visitorLimitedChildren.get(reason)?.inc(),
    accessDenied: (reason) => accessDeniedChildren.get(reason)?.inc(),
    visitorRejected: (reason) => visitorRejectedChildren.get(reason)?.inc(),
    connectionDropped: (reason) => connectionsDroppedChildren.get(reason)?.inc(),
    responseTrailers: (outcome) => responseTrailersChildren.get(outcome)?.inc(),
    setCertificateExpirySource(source) {
      expirySource = source;
    },
    setSessionSource(source) {
      sessionSource = source;
    },
    forgetDomain(domain) {
      requests.forget(domain);
      relayed.forget(domain);
    },
  };

  function labelledCounter(name: string, help: string, label: string): Counter {
    return new Counter({ name, help, labelNames: [label], registers });
  }
}

/** One cached child per member of a closed set, each created at zero so its series exists at once. */
function childrenOf<T extends string>(
  counter: Counter,
  values: readonly T[],
): ReadonlyMap<T, { inc(value?: number): void }> {
  const children = new Map(values.map((value) => [value, counter.labels(value)] as const));
  for (const child of children.values()) child.inc(0);
  return children;
}

function countSessions(source: SessionSource): { tunnels: Map<TunnelProtocol, number>; streams: number } {
  const tunnels = new Map<TunnelProtocol, number>(TUNNEL_PROTOCOLS.map((p) => [p, 0]));
  let streams = 0;
  for (const session of source()) {
    tunnels.set(session.protocolVersion, (tunnels.get(session.protocolVersion) ?? 0) + 1);
    streams += session.inFlightStreams;
  }
  return { tunnels, streams };
}
