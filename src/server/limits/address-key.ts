import { isIPv4, isIPv6 } from "node:net";

/**
 * The key per-address limits count by: an IPv4 address as it is (also when IPv4-mapped,
 * `::ffff:192.0.2.1`), an IPv6 address by its /64 prefix, since one subscriber usually holds a
 * whole /64 (RFC 6177) and could otherwise rotate through it to escape every limit.
 */
export function addressKey(address: string | undefined): string {
  if (address === undefined || address === "") return "unknown";
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped?.[1] !== undefined) return mapped[1];
  if (isIPv4(address)) return address;
  if (!isIPv6(address)) return address;
  return `${expandIPv6(address).slice(0, 4).join(":")}::/64`;
}

/** The eight groups of an IPv6 address, lowercase without leading zeros. */
function expandIPv6(address: string): string[] {
  const zoneless = address.split("%")[0] ?? address;
  const [head = "", tail] = zoneless.split("::");
  const groupsOf = (part: string) => (part === "" ? [] : part.split(":"));
  const left = groupsOf(head);
  const right = tail === undefined ? [] : groupsOf(tail);
  const missing = 8 - left.length - right.length;
  const groups = [...left, ...Array<string>(Math.max(missing, 0)).fill("0"), ...right];
  return groups.map((group) => (group.includes(".") ? group : Number.parseInt(group, 16).toString(16)));
}
