import { lookup } from "node:dns/promises";
import { isIP } from "node:net";

/** Resolves a name to its addresses (A and AAAA); throws when the name does not resolve. */
export type AddressLookup = (domain: string) => Promise<string[]>;

export interface AddressCheck {
  /** Undefined when ordering for `domain` may go ahead, else the reason it must not. */
  refusal(domain: string): Promise<string | undefined>;
}

/** The system resolver (getaddrinfo, as every other program on the host sees DNS). */
export const systemAddressLookup: AddressLookup = async (domain) =>
  (await lookup(domain, { all: true, verbatim: true })).map((entry) => entry.address);

/**
 * HOP_ACME_EXPECT_IPS: an order is refused unless the domain resolves to at least one expected
 * address, so that a domain whose DNS points elsewhere never burns the CA's failed-validation
 * rate limit.
 */
export function createAddressCheck(options: {
  readonly expectedIps: readonly string[];
  readonly lookup?: AddressLookup;
}): AddressCheck {
  const expected = new Set(options.expectedIps.map(canonicalIp));
  const resolve = options.lookup ?? systemAddressLookup;
  return {
    async refusal(domain) {
      let addresses: string[];
      try {
        addresses = (await resolve(domain)).map(canonicalIp);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
        return `DNS lookup of ${domain} failed (${code}); HOP_ACME_EXPECT_IPS requires one of ${[...expected].join(", ")}`;
      }
      if (addresses.some((address) => expected.has(address))) return undefined;
      return `${domain} resolves to ${addresses.join(", ") || "no address"}, none of HOP_ACME_EXPECT_IPS (${[...expected].join(", ")})`;
    },
  };
}

/** One spelling per address: IPv6 compressed and lowercased, IPv4-mapped IPv6 as IPv4. */
function canonicalIp(address: string): string {
  if (isIP(address) !== 6) return address;
  const compressed = new URL(`http://[${address}]/`).hostname.slice(1, -1);
  // WHATWG URL serializes ::ffff:192.0.2.1 as ::ffff:c000:201.
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(compressed);
  if (!mapped) return compressed;
  const high = parseInt(mapped[1] ?? "0", 16);
  const low = parseInt(mapped[2] ?? "0", 16);
  return [high >> 8, high & 0xff, low >> 8, low & 0xff].join(".");
}
