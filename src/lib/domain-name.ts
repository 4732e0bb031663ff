import { isIP } from "node:net";
import { domainToASCII } from "node:url";

/**
 * Domain names as HopGate accepts them: trimmed, lowercased, one trailing dot stripped, IDN
 * converted to punycode (UTS #46 via node:url), RFC 1123 labels of 1-63 letters, digits and
 * inner hyphens, at most 253 characters, at least one dot. No ports, wildcards or IP addresses.
 */
export type DomainResult = { ok: true; domain: string } | { ok: false; reason: string };

const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const MAX_DOMAIN_LENGTH = 253;

export function normalizeDomain(input: string, options: { allowSingleLabel?: boolean } = {}): DomainResult {
  const trimmed = input.trim();
  if (trimmed === "") return { ok: false, reason: "domain is empty" };
  if (/\s/.test(trimmed)) return { ok: false, reason: "domain must not contain whitespace" };
  if (trimmed.includes("*")) return { ok: false, reason: "wildcard domains are not supported" };
  if (isIP(trimmed) !== 0 || isIP(trimmed.replace(/^\[|\]$/g, "")) !== 0) {
    return { ok: false, reason: "an IP address is not a domain name" };
  }
  if (/[:/?#@]/.test(trimmed)) return { ok: false, reason: "domain must not contain a port, path or scheme" };
  // '%' and '\\' would be decoded or mapped by the WHATWG host parser behind domainToASCII.
  if (/[%\\]/.test(trimmed)) return { ok: false, reason: "domain must not contain '%' or '\\'" };
  const withoutDot = trimmed.endsWith(".") ? trimmed.slice(0, -1) : trimmed;
  const ascii = /^[\x20-\x7e]*$/.test(withoutDot) ? withoutDot.toLowerCase() : domainToASCII(withoutDot);
  if (ascii === "") return { ok: false, reason: "domain is not a valid internationalized name" };
  // Also after IDN mapping: fullwidth digits such as "１２７.０.０.１" become an IPv4 address.
  if (isIP(withoutDot) !== 0 || isIP(ascii) !== 0)
    return { ok: false, reason: "an IP address is not a domain name" };
  if (ascii.length > MAX_DOMAIN_LENGTH) {
    return { ok: false, reason: `domain is longer than ${MAX_DOMAIN_LENGTH} characters` };
  }
  const labels = ascii.split(".");
  if (labels.length < 2 && !options.allowSingleLabel) {
    return { ok: false, reason: "domain must have at least two labels (e.g. app.example.com)" };
  }
  for (const label of labels) {
    if (label === "") return { ok: false, reason: "domain has an empty label" };
    if (label.length > 63)
      return { ok: false, reason: `label "${label.slice(0, 16)}…" is longer than 63 characters` };
    if (!LABEL.test(label)) {
      return {
        ok: false,
        reason: `label "${label}" must be letters, digits and inner hyphens (RFC 1123)`,
      };
    }
  }
  if (/^\d+$/.test(labels[labels.length - 1] ?? "")) {
    return { ok: false, reason: "top-level label must not be all digits" };
  }
  return { ok: true, domain: ascii };
}

/**
 * Normalizes a Host header (or :authority) for routing: lowercased, port and one trailing dot
 * removed. Returns "" for an empty or unparsable host. Does not validate; lookups decide.
 */
export function hostForRouting(host: string | undefined): string {
  if (!host) return "";
  let name = host.trim().toLowerCase();
  if (name.startsWith("[")) {
    const end = name.indexOf("]");
    return end === -1 ? "" : name.slice(0, end + 1);
  }
  const colon = name.lastIndexOf(":");
  if (colon !== -1) name = name.slice(0, colon);
  return name.endsWith(".") ? name.slice(0, -1) : name;
}
