import { normalizeDomain } from "./domain-name.js";

/**
 * Wildcard base domains (`*.tunnel.example.com`): registered like a domain, with one client API
 * key that lets a client serve any one label directly under the base (`demo.tunnel.example.com`),
 * never the base itself nor deeper names (RFC 6125 §6.4.3: a wildcard matches one label only).
 */
export type WildcardResult = { ok: true; pattern: string; base: string } | { ok: false; reason: string };

/** What a client asks for instead of a name: the server assigns a label (`--domain auto`). */
export const AUTO_DOMAIN = "auto";

const PREFIX = "*.";

/** Whether `name` (as stored) is a wildcard pattern. */
export function isWildcardPattern(name: string): boolean {
  return name.startsWith(PREFIX);
}

/**
 * Normalizes `*.base`: exactly one leading `*.` label, and a base that is a valid domain of at
 * least two labels (normalizeDomain), so `*.com` and `*.*.example.com` are refused.
 */
export function normalizeWildcard(input: string): WildcardResult {
  const trimmed = input.trim();
  if (!trimmed.startsWith(PREFIX)) {
    return { ok: false, reason: "a wildcard domain must start with exactly one '*.' label" };
  }
  const base = normalizeDomain(trimmed.slice(PREFIX.length));
  if (!base.ok) {
    const reason = base.reason.includes("wildcard")
      ? "a wildcard domain has exactly one leading '*.' label"
      : `wildcard base: ${base.reason}`;
    return { ok: false, reason };
  }
  return { ok: true, pattern: PREFIX + base.domain, base: base.domain };
}

/**
 * The wildcard pattern that would cover `hostname` (normalized) and its label: the first label
 * and `*.` + the rest. Undefined when the rest would have fewer than two labels.
 */
export function wildcardOf(hostname: string): { pattern: string; label: string } | undefined {
  const dot = hostname.indexOf(".");
  if (dot <= 0) return undefined;
  const base = hostname.slice(dot + 1);
  if (!base.includes(".")) return undefined;
  return { pattern: PREFIX + base, label: hostname.slice(0, dot) };
}

/** The hostname of `label` under `pattern` (`*.base`). */
export function hostnameUnder(pattern: string, label: string): string {
  return `${label}.${pattern.slice(PREFIX.length)}`;
}
