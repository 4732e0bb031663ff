import { isIP } from "node:net";
import { normalizeDomain } from "../../lib/domain-name.js";

/** Where a plain HTTP request was sent: the host without its port, and the path with query. */
export interface RequestTarget {
  /** Lowercased DNS name, IPv4 address, or bracketed IPv6 address (`[::1]`). */
  readonly host: string;
  /** Starts with "/"; the query (if any) kept as sent. */
  readonly pathAndQuery: string;
}

const HOST_WITH_PORT = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]+)(?::(\d{1,5}))?$/;

/**
 * The target of a request from its request-target and Host header (RFC 9112 §3.2: origin-form
 * uses Host; absolute-form carries its own authority, which wins over Host). Undefined when the
 * host is missing or is not a DNS name or IP literal, or the target is neither form (e.g. `*`).
 */
export function parseRequestTarget(
  url: string | undefined,
  hostHeader: string | undefined,
): RequestTarget | undefined {
  if (url === undefined) return undefined;
  if (url.startsWith("/")) {
    const host = validHost(hostHeader);
    return host === undefined ? undefined : { host, pathAndQuery: url };
  }
  if (!/^https?:\/\//i.test(url)) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined;
  }
  const host = validHost(parsed.host);
  return host === undefined ? undefined : { host, pathAndQuery: parsed.pathname + parsed.search };
}

function validHost(header: string | undefined): string | undefined {
  const match = HOST_WITH_PORT.exec(header?.trim() ?? "");
  const name = match?.[1]?.toLowerCase();
  if (name === undefined) return undefined;
  if (match?.[2] !== undefined && Number(match[2]) > 65535) return undefined;
  if (name.startsWith("[")) return isIP(name.slice(1, -1)) === 6 ? name : undefined;
  if (isIP(name) === 4) return name;
  const withoutDot = name.endsWith(".") ? name.slice(0, -1) : name;
  const result = normalizeDomain(withoutDot, { allowSingleLabel: true });
  return result.ok && result.domain === withoutDot ? withoutDot : undefined;
}
