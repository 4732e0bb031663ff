import fc from "fast-check";

/**
 * How a front proxy may write an RFC 7239 `Forwarded` element for `address`: `for` in any case,
 * the node bare (IPv4), quoted, bracketed and quoted (IPv6, as §6 requires), with a port or an
 * obfuscated port, among other parameters (`by`, `proto`, `host`, an extension holding
 * delimiters in quotes) with or without spaces around `;`; every form names `address`
 * (forwarded-element.ts).
 */
export const forwardedElement = (address: string) =>
  fc
    .record({
      port: fc.option(fc.oneof(fc.integer({ min: 1, max: 65535 }).map(String), fc.constant("_p0rt")), {
        nil: undefined,
      }),
      quote: fc.boolean(),
      upper: fc.boolean(),
      name: fc.constantFrom("for", "For", "FOR"),
      by: fc.constantFrom("by=10.0.0.1", 'by="[2001:db8:ff::1]:443"', "by=_proxy"),
      others: fc.shuffledSubarray(OTHER_PAIRS),
      forAt: fc.nat(),
      separator: fc.constantFrom(";", " ; ", ";\t"),
    })
    .map(({ port, quote, upper, name, by, others, forAt, separator }) => {
      let node = upper ? address.toUpperCase() : address;
      if (node.includes(":")) node = `[${node}]`;
      if (port !== undefined) node = `${node}:${port}`;
      if (quote || node.includes(":")) node = `"${node}"`;
      const pairs = others.map((pair) => (pair === "by" ? by : pair));
      pairs.splice(forAt % (pairs.length + 1), 0, `${name}=${node}`);
      return pairs.join(separator);
    });

/** Each parameter at most once per element (§4); `by` stands for one of its spellings. */
const OTHER_PAIRS = ["by", "proto=https", "host=app.example.test", 'ext="a, b; for=198.51.100.1 \\" ,"'];

/**
 * Well-formed elements a proxy may write that name no address: `unknown` (§6.2), obfuscated
 * identifiers (§6.3), host names, IPv6 without brackets, IPv4 in brackets, no `for` at all.
 */
export const namelessForwardedElement = fc.constantFrom(
  "for=unknown",
  'for="unknown:_p"',
  "for=_hidden",
  'for="_SEVKISEK:4711"',
  "proto=https",
  "by=10.0.0.1;proto=http",
  "for=proxy.example.com",
  'for="[10.0.0.1]"',
  'for="10.0.0.1/8"',
  'for="2001:db9::1"',
  'for="[2001:db9::1"',
  'for="10.0.0.1:"',
  'for="10.0.0.1:123456"',
  ";",
);

/**
 * Elements that break RFC 7239 §4's grammar: an unquoted port or IPv6, an unterminated quote, a
 * parameter twice, an empty value, spaces around `=`. Each also spoils the rest of its line.
 */
export const malformedForwardedElement = fc.constantFrom(
  "for=10.0.0.1:80",
  "for=[2001:db8::1]",
  'for="10.0.0.1',
  "for=198.51.100.1;for=10.0.0.1",
  "FOR=198.51.100.1;for=10.0.0.1",
  "for=",
  'for=""',
  "for =10.0.0.1",
  "for= 10.0.0.1",
  'for="10.0.0.1"x',
  "for=10.0.0.1 10.0.0.2",
  "10.0.0.1",
  '"for=10.0.0.1"',
);
