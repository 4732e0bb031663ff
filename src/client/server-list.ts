import { isIPv4, isIPv6 } from "node:net";

/** Most servers a client holds tunnels to besides its configured one (docs/scale-out.md). */
export const MAX_GATEWAY_SERVERS = 16;
/** Longest entry considered: a DNS name (253) with brackets, colon and port. */
const MAX_ENTRY_CHARS = 300;
/** Entries looked at in one list; the rest are dropped unread. */
const MAX_ENTRIES_READ = 256;

const HOST_PORT = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+)):([0-9]{1,5})$/;
const DNS_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

export interface ParsedServerList {
  /** https origins ("https://host:port"), in the order given, without duplicates, at most `limit`. */
  readonly origins: readonly string[];
  /** Entries dropped: malformed, or past the limit. */
  readonly dropped: number;
}

/**
 * Reads a server list a server sent (TunnelAccept.servers, ServerList): only `host:port` with a
 * DNS name, an IPv4 address or a bracketed IPv6 address and a port 1-65535; no scheme, user
 * information, path, query or anything else. Whatever a server sends, the answer is a bounded
 * list of origins the client may dial; nothing here throws.
 */
export function parseServerList(entries: readonly unknown[], limit = MAX_GATEWAY_SERVERS): ParsedServerList {
  const origins: string[] = [];
  let dropped = Math.max(0, entries.length - MAX_ENTRIES_READ);
  for (const entry of entries.slice(0, MAX_ENTRIES_READ)) {
    const origin = originOf(entry);
    if (origin === undefined || origins.length >= limit) {
      if (origin === undefined || !origins.includes(origin)) dropped++;
      continue;
    }
    if (!origins.includes(origin)) origins.push(origin);
  }
  return { origins, dropped };
}

/** The https origin of one `host:port` entry, or undefined when it is not exactly that. */
export function originOf(entry: unknown): string | undefined {
  if (typeof entry !== "string" || entry.length > MAX_ENTRY_CHARS) return undefined;
  const match = HOST_PORT.exec(entry);
  if (!match) return undefined;
  const [, ipv6, name, portText] = match;
  const port = Number(portText);
  if (port < 1 || port > 65_535) return undefined;
  if (ipv6 !== undefined && !isIPv6(ipv6)) return undefined;
  if (name !== undefined && !isIPv4(name) && !isDnsName(name)) return undefined;
  try {
    return new URL(`https://${entry}`).origin;
  } catch {
    return undefined;
  }
}

function isDnsName(name: string): boolean {
  const lower = name.toLowerCase().replace(/\.$/, "");
  if (lower.length === 0 || lower.length > 253) return false;
  // A name of digits and dots only is an IPv4 address or nothing (URL would read "1.2.3" as one).
  if (/^[0-9.]+$/.test(lower)) return false;
  return lower.split(".").every((label) => DNS_LABEL.test(label));
}
