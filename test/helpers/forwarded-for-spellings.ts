import fc from "fast-check";

/**
 * How a front proxy may write an address into X-Forwarded-For: bare, with a port, bracketed
 * (IPv6), quoted, uppercased, padded; every form names `address` (forwarded-for-entry.ts).
 */
export const spelled = (address: string) =>
  fc
    .record({
      port: fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined }),
      bracket: fc.boolean(),
      quote: fc.boolean(),
      upper: fc.boolean(),
      pad: fc.constantFrom("", " ", "\t", "  "),
    })
    .map(({ port, bracket, quote, upper, pad }) => {
      const v6 = address.includes(":");
      let text = upper ? address.toUpperCase() : address;
      if (v6 && (bracket || port !== undefined)) text = `[${text}]`;
      if (port !== undefined) text = `${text}:${port}`;
      if (quote) text = `"${text}"`;
      return `${pad}${text}${pad}`;
    });
/** Entries a proxy may write that name no address (RFC 7239 §6.2, §6.3, and plain junk). */
export const namelessEntry = fc.constantFrom(
  "unknown",
  "_hidden",
  "_SEVKISEK",
  "proxy.example.com",
  "10.0.0.1/8",
  "[10.0.0.1]",
  "[10.0.0.1]:80",
  "2001:db9::1]:80",
  '"10.0.0.1',
  "10.0.0.1:",
  "10.0.0.1:123456",
  "::ffff:10.0.0.1:80x",
  "[]",
);
