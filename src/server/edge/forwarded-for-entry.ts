import { isIPv4 } from "node:net";
import { canonicalAddress } from "../access/ip-rules.js";

/**
 * The address one X-Forwarded-For entry names, canonical (ip-rules.ts canonicalAddress: an
 * IPv4-mapped address as IPv4, IPv6 lowercased, a zone index dropped); undefined for an entry
 * that names no IP address.
 *
 * Front proxies write more than bare addresses (Azure Application Gateway and IIS append a port,
 * some copy RFC 7239 §6 node syntax), and each form is read for the address it names:
 * `203.0.113.7`, `203.0.113.7:51234`, `2001:db8::7`, `[2001:db8::7]`, `[2001:db8::7]:443`, any
 * of them in one pair of double quotes (`"[2001:db8::7]:443"`), with optional whitespace around.
 * A port must be 1 to 5 digits. A bare IPv6 address is taken whole: `2001:db8::7:443` is a valid
 * address, so a port cannot be told from its last group without brackets.
 *
 * Everything else names no address: RFC 7239 §6.2 `unknown` and §6.3 obfuscated identifiers
 * (`_hidden`), host names, CIDR blocks, an IPv4 address in brackets, an unbracketed IPv6 address
 * with a port, quotes that do not pair, quoted-pair escapes.
 */
export function forwardedForEntryAddress(entry: string): string | undefined {
  let text = entry.trim();
  if (text.length >= 2 && text.startsWith('"') && text.endsWith('"')) text = text.slice(1, -1);
  if (text.startsWith("[")) return bracketed(text);
  const v4 = IPV4_WITH_PORT.exec(text);
  if (v4) return isIPv4(v4[1]!) ? v4[1] : undefined;
  return canonicalAddress(text)?.address;
}

/** `a.b.c.d:port`; the address is checked by isIPv4. */
const IPV4_WITH_PORT = /^(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}):\d{1,5}$/;

/** RFC 3986 §3.2.2 IP-literal, optionally with a port: IPv6 only. */
function bracketed(text: string): string | undefined {
  const match = /^\[([^\]]+)\](?::\d{1,5})?$/.exec(text);
  if (!match || isIPv4(match[1]!)) return undefined;
  // RFC 6874: a zone index in a URI is written `%25eth0`; canonicalAddress drops it either way.
  return canonicalAddress(match[1])?.address;
}
