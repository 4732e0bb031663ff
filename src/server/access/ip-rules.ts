import { BlockList, isIPv4, isIPv6 } from "node:net";
import { ipv6Groups } from "../limits/address-key.js";

/** A CIDR block as the admin wrote it, checked and in canonical form (`10.0.0.0/8`, `2001:db8::/32`). */
export type CidrParse =
  { readonly ok: true; readonly cidr: string } | { readonly ok: false; readonly reason: string };

/**
 * The IPv4 address an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, also written `::ffff:a00:1`;
 * RFC 4291 §2.5.5.2) stands for, given a valid IPv6 address without zone; else undefined.
 */
function mappedIpv4(address: string): string | undefined {
  const groups = ipv6Groups(address).map((group) => Number.parseInt(group, 16));
  if (groups.slice(0, 5).some((group) => group !== 0) || groups[5] !== 0xffff) return undefined;
  const [high = 0, low = 0] = groups.slice(6);
  return [high >> 8, high & 0xff, low >> 8, low & 0xff].join(".");
}

/**
 * The address a peer is matched as: an IPv4-mapped IPv6 address (what a dual-stack socket
 * reports for an IPv4 peer) becomes its IPv4 address, and an IPv6 zone index (`fe80::1%eth0`)
 * is dropped. Undefined when `address` is not an IP address.
 */
export function canonicalAddress(
  address: string | undefined,
): { readonly address: string; readonly family: "ipv4" | "ipv6" } | undefined {
  if (address === undefined) return undefined;
  if (isIPv4(address)) return { address, family: "ipv4" };
  const bare = address.split("%")[0] ?? address;
  if (!isIPv6(bare)) return undefined;
  const mapped = mappedIpv4(bare);
  return mapped === undefined
    ? { address: bare.toLowerCase(), family: "ipv6" }
    : { address: mapped, family: "ipv4" };
}

/**
 * `a.b.c.d`, `a.b.c.d/n` (n ≤ 32), an IPv6 address or `x::/n` (n ≤ 128); a bare address is a /32
 * or /128. A block inside the IPv4-mapped range (`::ffff:10.0.0.0/104`) becomes the IPv4 block it
 * stands for (`10.0.0.0/8`), as peers do (see canonicalAddress).
 */
export function parseCidr(text: string): CidrParse {
  const [address = "", prefix, extra] = text.trim().split("/");
  if (extra !== undefined) return { ok: false, reason: `${text} is not a CIDR block` };
  const family = isIPv4(address) ? "ipv4" : isIPv6(address) && !address.includes("%") ? "ipv6" : undefined;
  if (family === undefined) return { ok: false, reason: `${text} is not an IPv4 or IPv6 address or block` };
  const max = family === "ipv4" ? 32 : 128;
  const badPrefix = {
    ok: false,
    reason: `${text}: the prefix length must be a number from 0 to ${max}`,
  } as const;
  if (prefix !== undefined && !/^\d{1,3}$/.test(prefix)) return badPrefix;
  const bits = prefix === undefined ? max : Number(prefix);
  if (bits > max) return badPrefix;
  const mapped = family === "ipv6" && bits >= 96 ? mappedIpv4(address) : undefined;
  if (mapped !== undefined) return { ok: true, cidr: `${mapped}/${bits - 96}` };
  return { ok: true, cidr: `${address.toLowerCase()}/${bits}` };
}

/** A set of CIDR blocks a peer address is tested against. */
export interface IpRules {
  readonly size: number;
  /** Whether the peer's address lies in one of the blocks; an address that is no IP address never does. */
  matches(address: string | undefined): boolean;
}

/**
 * Compiles blocks (see parseCidr) into one node BlockList per family. The peer's address is
 * canonicalized first and tested against its own family's list only: node's BlockList would
 * also match an IPv4 peer against IPv6 blocks that cover the mapped range (`::/0` holding
 * 127.0.0.1), which an admin who lists IPv6 blocks does not mean.
 */
export function compileIpRules(blocks: readonly string[]): IpRules {
  const lists = { ipv4: new BlockList(), ipv6: new BlockList() };
  for (const block of blocks) {
    const parsed = parseCidr(block);
    if (!parsed.ok) throw new Error(parsed.reason);
    const [address = "", bits] = parsed.cidr.split("/");
    const family = isIPv4(address) ? "ipv4" : "ipv6";
    lists[family].addSubnet(address, Number(bits), family);
  }
  return {
    size: blocks.length,
    matches(address) {
      const peer = canonicalAddress(address);
      return peer !== undefined && lists[peer.family].check(peer.address, peer.family);
    },
  };
}
