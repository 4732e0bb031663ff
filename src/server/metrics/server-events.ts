/**
 * The closed label sets of the server's metrics. Each is a list (for pre-creating series at zero,
 * so dashboards and alerts see them before the first event) and the union type the code reports.
 */

/** Why a proxied request failed; the proxy's error mapper picks one per failed request. */
export const PROXY_ERROR_TYPES = [
  "no_tunnel",
  "backend",
  "timeout",
  "tunnel_closed",
  "protocol",
  "client_abort",
  "too_large",
  "rate_limited",
  "other",
] as const;
export type ProxyErrorType = (typeof PROXY_ERROR_TYPES)[number];

/**
 * What became of a backend's response trailer section (capability "trailers") on the server the
 * visitor reached: `sent` to the visitor, `dropped` (the visitor cannot take trailers, or no field
 * of the section may be one), or `refused` as malformed by the tunnel holder, the stream aborted.
 */
export const TRAILER_OUTCOMES = ["sent", "dropped", "refused"] as const;
export type TrailerOutcome = (typeof TRAILER_OUTCOMES)[number];

/** How a tunnel handshake ended. */
export const HANDSHAKE_RESULTS = [
  "ok",
  "invalid_key",
  "unknown_domain",
  "malformed",
  "timeout",
  "unavailable",
  "rate_limited",
  "label_taken",
  "label_limit",
] as const;
export type HandshakeResult = (typeof HANDSHAKE_RESULTS)[number];

/** Handshake results that are failed logins: they also count as `auth_failures{kind="tunnel"}`. */
export const AUTH_FAILURE_HANDSHAKES: ReadonlySet<HandshakeResult> = new Set([
  "invalid_key",
  "unknown_domain",
]);

export const AUTH_FAILURE_KINDS = ["tunnel", "admin"] as const;
export type AuthFailureKind = (typeof AUTH_FAILURE_KINDS)[number];

/** How an ACME order ended: a first certificate, a renewal, or a failure of either. */
export const ACME_ORDER_RESULTS = ["issued", "failed", "refused"] as const;
export type AcmeOrderResult = (typeof ACME_ORDER_RESULTS)[number];

/** Tunnel protocol mode (PROTOCOL.md): 1 for the Go peers' mode, 2 for the negotiated mode. */
export const TUNNEL_PROTOCOLS = [1, 2] as const;
export type TunnelProtocol = (typeof TUNNEL_PROTOCOLS)[number];

/**
 * Body bytes through tunnels: `to_client` are request bytes sent into a tunnel, `from_client`
 * response bytes received from one.
 */
export const PROXY_DIRECTIONS = ["to_client", "from_client"] as const;
export type ProxyDirection = (typeof PROXY_DIRECTIONS)[number];

/** One finished proxied request, as the access log and the request metrics see it. */
export interface FinishedRequest {
  /** Method as received; anything outside the standard set is counted as `_other`. */
  readonly method: string;
  /** Status sent to the visitor (also 502/504 pages the server wrote itself). */
  readonly status: number;
  /** Normalized host (`hostForRouting`); labelled only when it is a registered domain. */
  readonly domain: string;
  readonly durationMs: number;
}

/** A certificate the server holds, for the expiry gauge. */
export interface CertificateExpiry {
  readonly domain: string;
  /** The certificate's notAfter, in milliseconds since the epoch. */
  readonly notAfterMs: number;
}

/** Called at scrape time; the certificate manager's view of what it holds. */
export type CertificateExpirySource = () =>
  Iterable<CertificateExpiry> | Promise<Iterable<CertificateExpiry>>;

/** A live tunnel session as the gauges see it (`SessionInfo` of the session registry fits). */
export interface LiveSession {
  readonly protocolVersion: TunnelProtocol;
  readonly inFlightStreams: number;
}

/** Called at scrape time; the session registry's view of what is connected now. */
export type SessionSource = () => Iterable<LiveSession>;
