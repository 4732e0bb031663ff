import { isIPv4, isIPv6 } from "node:net";

/**
 * The key an address is limited by. IPv4 addresses (also written IPv4-mapped, `::ffff:a.b.c.d`)
 * count one by one. IPv6 addresses count by their /64 prefix: one subscriber usually holds a
 * whole /64 (RFC 6177), so counting single IPv6 addresses would let one host rotate through
 * 2^64 of them. Anything else (a Unix socket) is its own key; no address at all is "unknown".
 */
export function addressKey(remoteAddress: string | undefined): string {
  if (remoteAddress === undefined || remoteAddress === "") return "unknown";
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(remoteAddress);
  if (mapped?.[1] !== undefined && isIPv4(mapped[1])) return mapped[1];
  if (!isIPv6(remoteAddress)) return remoteAddress;
  return `${ipv6Groups(remoteAddress).slice(0, 4).join(":")}::/64`;
}

/** The eight 16-bit groups of a valid IPv6 address, as lowercase hex without leading zeros. */
export function ipv6Groups(address: string): string[] {
  const bare = address.split("%")[0] ?? address; // a zone index (fe80::1%eth0) is not part of it
  const [head = "", tail] = bare.split("::");
  const partsOf = (text: string): string[] => (text === "" ? [] : text.split(":").flatMap(groupsOf));
  const before = partsOf(head);
  const after = tail === undefined ? [] : partsOf(tail);
  const zeros = Array<string>(8 - before.length - after.length).fill("0");
  return [...before, ...zeros, ...after].map((group) => Number.parseInt(group, 16).toString(16));
}

/** A group as written, or a trailing dotted IPv4 part (RFC 4291 §2.2, form 3) as its two groups. */
function groupsOf(part: string): string[] {
  if (!part.includes(".")) return [part];
  const [a = 0, b = 0, c = 0, d = 0] = part.split(".").map(Number);
  return [((a << 8) | b).toString(16), ((c << 8) | d).toString(16)];
}
