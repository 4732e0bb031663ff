import type { Http2ServerRequest } from "node:http2";
import { canonicalAddress, compileIpRules, type IpRules } from "../access/ip-rules.js";
import { forwardingHops, type TrustedProxyHeader } from "./forwarding-header.js";

/**
 * Who sent a request, as far as the trusted front proxies (HOP_SERVER_TRUSTED_PROXIES) tell in
 * the header HOP_SERVER_TRUSTED_PROXY_HEADER names.
 */
export interface VisitorAddress {
  /**
   * The visitor's address: canonical (an IPv4-mapped IPv6 address as IPv4), or the peer as the
   * socket gave it when that is no IP address; undefined when the socket no longer knows it or a
   * trusted proxy named no address (see visitorAddress).
   */
  readonly address: string | undefined;
  /**
   * The forwarding chain for the backend's X-Forwarded-For and Forwarded: `address` first,
   * then each trusted hop the request passed, the TCP peer last. Just `[address]` when the peer
   * is not trusted; `unknown` in `address`'s place when a trusted proxy named no address.
   */
  readonly chain: readonly string[];
  /**
   * Set on the tunnel holder's side of a peer relay: the registry id of the gateway server the
   * visitor reached, which counts the request (docs/scale-out.md, counting relayed requests).
   */
  readonly relayedBy?: string;
}

/** What VisitorAddressOf reads of a request: its connection's peer and its field lines. */
export interface AddressedRequest {
  readonly socket: { readonly remoteAddress?: string | undefined };
  readonly rawHeaders: readonly string[];
  /** 2 for a compat-API HTTP/2 request (its `stream.session` is the connection). */
  readonly httpVersionMajor?: number;
}

/** RFC 7239 §6.2: the node a trusted proxy received the request from is not known. */
const UNKNOWN_HOP = "unknown";

/**
 * The most trusted hops the walk passes before it gives up: no deployment chains this many front
 * proxies, and each hop costs a rule lookup that a visitor could otherwise multiply by filling the
 * header with trusted-looking addresses (~2,600 IPv6 ones in 60 KB: 40-50 ms of CPU per request).
 */
export const MAX_TRUSTED_HOPS = 16;

/** Computes a request's VisitorAddress; asked once per request. */
export type VisitorAddressOf = (req: AddressedRequest) => VisitorAddress;

/**
 * The visitor's address given the TCP peer, the field lines of the trusted proxies' forwarding
 * header (in the order received) and the trusted proxies, as nginx's realip module with
 * `real_ip_recursive on` does: an untrusted peer is the visitor and its headers are ignored; a
 * trusted peer's header is walked from the right (the hops its own proxies appended), skipping
 * trusted addresses, and the first untrusted one is the visitor. Everything left of it was
 * written by the visitor and is never looked at. `header` says which header the lines are and
 * how a hop is read (forwarding-header.ts): `X-Forwarded-For` entries with a port or brackets
 * (forwarded-for-entry.ts), or the `for` of RFC 7239 `Forwarded` elements (forwarded-element.ts).
 * When every hop is trusted, the leftmost is the visitor; when more than MAX_TRUSTED_HOPS are, the
 * visitor is unknown (below).
 *
 * A hop that names no address (`unknown`, `_hidden`, a host name, a `Forwarded` element without
 * `for` or that does not parse) is an untrusted hop whose address a trusted proxy did not tell:
 * the walk stops there and the visitor is unknown (`address` undefined, `unknown` first in the
 * chain), so it passes no IP allow list and is refused by any deny list. nginx would take the
 * last trusted hop instead, which lets every such visitor through an allow list that holds the
 * proxies' own addresses.
 */
export function visitorAddress(
  peer: string | undefined,
  lines: readonly string[],
  trusted: IpRules,
  header: TrustedProxyHeader = "x-forwarded-for",
): VisitorAddress {
  if (peer === undefined || peer === "") return { address: undefined, chain: [] };
  const hops = [canonicalAddress(peer)?.address ?? peer];
  if (trusted.size === 0 || !trusted.matches(peer)) return { address: hops[0], chain: hops };
  for (const hop of forwardingHops[header](lines)) {
    if (hop === undefined) return { address: undefined, chain: [UNKNOWN_HOP, ...hops] };
    hops.unshift(hop);
    if (!trusted.matches(hop)) break;
    // The peer and more than MAX_TRUSTED_HOPS trusted hops: the visitor is unknown.
    if (hops.length > MAX_TRUSTED_HOPS + 1) return { address: undefined, chain: [UNKNOWN_HOP, ...hops] };
  }
  return { address: hops[0], chain: hops };
}

/**
 * A VisitorAddressOf for the trusted proxies' CIDR blocks (ip-rules.ts parseCidr); none: trust
 * nothing. Trusting nothing, the answer depends on the TCP peer alone: it is computed once per
 * connection (per HTTP/2 session) and shared by the connection's requests, which must not change it.
 */
export function createVisitorAddressOf(
  trustedProxies: readonly string[],
  header: TrustedProxyHeader = "x-forwarded-for",
): VisitorAddressOf {
  const trusted = compileIpRules(trustedProxies);
  if (trusted.size > 0)
    return (req) =>
      visitorAddress(req.socket.remoteAddress, fieldLines(req.rawHeaders, header), trusted, header);
  const byConnection = new WeakMap<object, VisitorAddress>();
  return (req) => {
    // HTTP/2: the session, not `req.socket`, which node's compatibility API makes anew per stream.
    const connection = req.httpVersionMajor === 2 ? (req as Http2ServerRequest).stream.session : req.socket;
    const known = connection && byConnection.get(connection);
    if (known) return known;
    const peer = connection === undefined ? undefined : req.socket.remoteAddress;
    const address = visitorAddress(peer, [], trusted);
    // A connection whose socket no longer knows its peer is asked again next time.
    if (connection && address.address !== undefined) byConnection.set(connection, address);
    return address;
  };
}

/** Every field line named `name` (lowercase), in order (node's `headers` joins them, HTTP/2 or not alike). */
function fieldLines(raw: readonly string[], name: string): string[] {
  const lines: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const field = raw[i]!;
    if (field.length === name.length && field.toLowerCase() === name) lines.push(raw[i + 1]!);
  }
  return lines;
}
