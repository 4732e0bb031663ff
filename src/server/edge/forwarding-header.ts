import { forwardedElements, forwardedNodeAddress } from "./forwarded-element.js";
import { forwardedForEntryAddress } from "./forwarded-for-entry.js";

/** The header trusted front proxies name their hops in (HOP_SERVER_TRUSTED_PROXY_HEADER). */
export const TRUSTED_PROXY_HEADERS = ["x-forwarded-for", "forwarded"] as const;
export type TrustedProxyHeader = (typeof TRUSTED_PROXY_HEADERS)[number];

/**
 * The hops of one forwarding header, nearest first: from the right end of the last field line
 * leftwards (a proxy appends its hop at the right), each the address it names, or undefined for
 * a hop that names none or does not parse. Lazy: a walk that stops early reads no further.
 */
export type ForwardingHops = (lines: readonly string[]) => Iterable<string | undefined>;

/**
 * Exactly one header is read, never both and never one for lack of the other: a proxy that
 * writes one usually passes the visitor's own copy of the other through untouched, so reading
 * it would let a visitor choose its address.
 */
export const forwardingHops: Record<TrustedProxyHeader, ForwardingHops> = {
  *"x-forwarded-for"(lines) {
    const entries = lines.flatMap((line) => line.split(","));
    for (let i = entries.length - 1; i >= 0; i--) {
      // RFC 9110 §5.6.1: empty list elements are ignored.
      if (entries[i]!.trim() !== "") yield forwardedForEntryAddress(entries[i]!);
    }
  },
  // Lines parse independently (a broken one spoils only itself): an earlier one is parsed only
  // when the walk gets to it.
  *forwarded(lines) {
    for (let line = lines.length - 1; line >= 0; line--) {
      const elements = forwardedElements(lines[line]!);
      for (let i = elements.length - 1; i >= 0; i--) {
        const element = elements[i]!;
        yield element.t === "for" ? forwardedNodeAddress(element.node) : undefined;
      }
    }
  },
};
