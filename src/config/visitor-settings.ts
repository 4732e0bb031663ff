import { TRUSTED_PROXY_HEADERS } from "../server/edge/forwarding-header.js";
import { boolean, cidrBlock, integer, integerOrAuto, list, oneOf } from "./parsers.js";
import { setting } from "./setting.js";

/**
 * The largest visitor header section: HTTP/2 refuses more than that with its own limits, and
 * the tunnel carries at most 64 KiB of header map (src/protocol/limits.ts), which must leave
 * room for the forwarding headers the proxy adds.
 */
const MAX_VISITOR_HEADER_BYTES = 60 * 1024;

/**
 * What the public TLS listener tolerates from one visitor (docs/operations.md, Visitor limits):
 * slow or oversized heads, bodies, and the per-address connection and request-rate limits. The
 * limits apply to proxied domains only; the tunnel endpoint and the admin API are exempt.
 */
export const visitorSettings = {
  headersTimeoutSeconds: setting({
    env: "HOP_SERVER_HEADERS_TIMEOUT_SECONDS",
    flag: "--headers-timeout-seconds",
    kind: "value",
    description:
      "Time a visitor has to send a complete request head (HTTP/1.1: 408; HTTP/2: a connection without a first request is closed)",
    expected: "a whole number of seconds from 1 to 600",
    default: "20",
    schema: integer(1, 600),
  }),
  requestTimeoutSeconds: setting({
    env: "HOP_SERVER_REQUEST_TIMEOUT_SECONDS",
    flag: "--request-timeout-seconds",
    kind: "value",
    description:
      "Time an HTTP/1.1 visitor has to send a whole request, body included (408 after it); 0 = no limit",
    expected: "a whole number of seconds from 0 to 86400",
    default: "300",
    schema: integer(0, 86_400),
  }),
  idleTimeoutSeconds: setting({
    env: "HOP_SERVER_IDLE_TIMEOUT_SECONDS",
    flag: "--idle-timeout-seconds",
    kind: "value",
    description:
      "A visitor connection on which nothing moves this long is closed (tunnels excepted), and a response the visitor takes nothing of this long is abandoned",
    expected: "a whole number of seconds from 1 to 86400",
    default: "120",
    schema: integer(1, 86_400),
  }),
  maxHeaderBytes: setting({
    env: "HOP_SERVER_MAX_HEADER_BYTES",
    flag: "--max-header-bytes",
    kind: "value",
    description: "Largest request head a visitor may send, HTTP/1.1 and HTTP/2 alike (431 beyond it)",
    expected: `a whole number of bytes from 4096 to ${MAX_VISITOR_HEADER_BYTES}`,
    default: String(32 * 1024),
    schema: integer(4096, MAX_VISITOR_HEADER_BYTES),
  }),
  maxBodyBytes: setting({
    env: "HOP_SERVER_MAX_BODY_BYTES",
    flag: "--max-body-bytes",
    kind: "value",
    description: "Largest request body sent to a proxied domain (413 beyond it); 0 = no limit",
    expected: "a whole number of bytes, 0 for no limit",
    default: "0",
    schema: integer(0, Number.MAX_SAFE_INTEGER),
  }),
  maxConnectionsPerIp: setting({
    env: "HOP_SERVER_MAX_CONNECTIONS_PER_IP",
    flag: "--max-connections-per-ip",
    kind: "value",
    description:
      "Open TLS connections one visitor address may hold; requests to proxied domains on more get 429 and the connection is closed; 0 = no limit",
    expected: "a whole number from 0 to 1000000",
    default: "0",
    schema: integer(0, 1_000_000),
  }),
  maxRequestsPerIpPerSecond: setting({
    env: "HOP_SERVER_MAX_REQUESTS_PER_IP_PER_SECOND",
    flag: "--max-requests-per-ip-per-second",
    kind: "value",
    description:
      "Sustained request rate to proxied domains per visitor address (429 beyond it); 0 = no limit",
    expected: "a whole number from 0 to 1000000",
    default: "0",
    schema: integer(0, 1_000_000),
  }),
  requestBurstPerIp: setting({
    env: "HOP_SERVER_REQUEST_BURST_PER_IP",
    flag: "--request-burst-per-ip",
    kind: "value",
    description:
      "Requests a visitor address may make at once above its rate (token bucket size); 0 = one second's worth",
    expected: "a whole number from 0 to 1000000",
    default: "0",
    schema: integer(0, 1_000_000),
  }),
  maxConnections: setting({
    env: "HOP_SERVER_MAX_CONNECTIONS",
    flag: "--max-connections",
    kind: "value",
    description:
      "Open connections the TLS port accepts in all (visitors and tunnels); more are closed at once and counted in hopgate_connections_dropped_total; auto = sized from memory (about 80 KiB per connection in half of it), 0 = no limit",
    expected: "auto, or a whole number from 0 to 10000000",
    default: "auto",
    schema: integerOrAuto(0, 10_000_000),
  }),
  tlsHandshakeTimeoutSeconds: setting({
    env: "HOP_SERVER_TLS_HANDSHAKE_TIMEOUT_SECONDS",
    flag: "--tls-handshake-timeout-seconds",
    kind: "value",
    description: "Time a new connection has to complete its TLS handshake; it is closed after it",
    expected: "a whole number of seconds from 1 to 300",
    default: "10",
    schema: integer(1, 300),
  }),
  trustRequestId: setting({
    env: "HOP_SERVER_TRUST_REQUEST_ID",
    flag: "--trust-request-id",
    kind: "switch",
    description:
      "Keep a valid X-Request-ID sent to the server (behind a trusted proxy); off = every request gets a new id, as at an edge",
    expected: "true or false",
    default: "false",
    schema: boolean(),
  }),
  trustedProxies: setting({
    env: "HOP_SERVER_TRUSTED_PROXIES",
    flag: "--trusted-proxies",
    kind: "list",
    description:
      "Front proxies (load balancer, CDN, nginx) whose forwarding header is believed: from such a peer the visitor is the rightmost untrusted address in it (docs/access.md, Behind a front proxy); empty = trust nothing, the TCP peer is the visitor",
    expected: "comma-separated IPv4 or IPv6 addresses or CIDR blocks (10.0.0.0/8, 2001:db8::/32)",
    default: "",
    schema: list(cidrBlock()),
  }),
  trustedProxyHeader: setting({
    env: "HOP_SERVER_TRUSTED_PROXY_HEADER",
    flag: "--trusted-proxy-header",
    kind: "value",
    description:
      "The one header the trusted proxies name the visitor in: X-Forwarded-For, or RFC 7239 Forwarded (its for= parameters); the other is never read",
    expected: "x-forwarded-for or forwarded",
    default: "x-forwarded-for",
    schema: oneOf(TRUSTED_PROXY_HEADERS),
  }),
  bodyTimeoutSeconds: setting({
    env: "HOP_SERVER_BODY_TIMEOUT_SECONDS",
    flag: "--body-timeout-seconds",
    kind: "value",
    description:
      "A visitor that sends no request-body bytes this long mid-body gets 408 (its response reset if already under way) and its backend request is aborted (nginx client_body_timeout)",
    expected: "a whole number of seconds from 1 to 86400",
    default: "60",
    schema: integer(1, 86_400),
  }),
};
