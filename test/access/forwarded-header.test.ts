import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { compileIpRules } from "../../src/server/access/ip-rules.js";
import { forwardedElements, forwardedNodeAddress } from "../../src/server/edge/forwarded-element.js";
import { createVisitorAddressOf, visitorAddress } from "../../src/server/edge/visitor-address.js";
import {
  forwardedElement,
  malformedForwardedElement,
  namelessForwardedElement,
} from "../helpers/forwarded-spellings.js";
import { namelessEntry, spelled } from "../helpers/forwarded-for-spellings.js";

const TRUSTED = ["10.0.0.0/8", "2001:db8::/32", "127.0.0.1"];
const trusted = compileIpRules(TRUSTED);

const octet = fc.integer({ min: 0, max: 255 });
const trustedHop = fc.oneof(
  fc.tuple(octet, octet, octet).map(([a, b, c]) => `10.${a}.${b}.${c}`),
  fc.tuple(octet, octet).map(([a, b]) => `::ffff:10.0.${a}.${b}`),
  fc.integer({ min: 0, max: 0xffff }).map((n) => `2001:db8::${n.toString(16)}`),
  fc.constant("127.0.0.1"),
);
const untrustedHop = fc.oneof(
  fc.tuple(fc.integer({ min: 11, max: 223 }), octet, octet, octet).map((parts) => parts.join(".")),
  fc.tuple(octet, octet).map(([a, b]) => `::ffff:203.0.${a}.${b}`),
  fc.integer({ min: 0, max: 0xffff }).map((n) => `2001:db9::${n.toString(16)}`),
);
const canonical = (address: string) => address.replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/, "$1");
const withElement = (hop: fc.Arbitrary<string>) =>
  hop.chain((address) => forwardedElement(address).map((text) => ({ address, text })));

/** Text a visitor may write: delimiters, quotes and escapes thrown together, and anything. */
const junk = fc.oneof(
  fc.string({ unit: fc.constantFrom(...'"\\,;= \tfor[]:1.0_x'.split("")), maxLength: 24 }),
  fc.string({ maxLength: 16 }),
);
/** What a visitor may write into Forwarded: elements for any address, nameless, malformed, junk. */
const visitorElement = fc.oneof(
  withElement(fc.oneof(trustedHop, untrustedHop)).map((element) => element.text),
  namelessForwardedElement,
  malformedForwardedElement,
  junk,
);

describe("forwardedElements", () => {
  it("reads each element's for, or none, or where the grammar broke", () => {
    const cases: Array<[string, ReturnType<typeof forwardedElements>]> = [
      ["for=192.0.2.60;proto=http;by=203.0.113.43", [{ t: "for", node: "192.0.2.60" }]],
      [
        'for="[2001:db8:cafe::17]:4711"',
        [{ t: "for", node: "[2001:db8:cafe::17]:4711" }], // RFC 7239 §7.4
      ],
      [
        "for=192.0.2.43, for=198.51.100.17",
        [
          { t: "for", node: "192.0.2.43" },
          { t: "for", node: "198.51.100.17" },
        ],
      ],
      ["For=unknown", [{ t: "for", node: "unknown" }]],
      ["for=_hidden ; proto=https", [{ t: "for", node: "_hidden" }]],
      ['for="a\\"b"', [{ t: "for", node: 'a"b' }]],
      [" , ,for=1.2.3.4,, ", [{ t: "for", node: "1.2.3.4" }]],
      ["", []],
      ["proto=https", [{ t: "none" }]],
      [";", [{ t: "none" }]],
      ['ext="x,for=6.6.6.6";for=1.2.3.4', [{ t: "for", node: "1.2.3.4" }]],
      ["__proto__=x;constructor=y", [{ t: "none" }]],
      ["for=1.2.3.4:80", [{ t: "malformed" }]],
      ["for=1.2.3.4;for=5.6.7.8, for=9.9.9.9", [{ t: "malformed" }]],
      ['for="1.2.3.4, for=9.9.9.9', [{ t: "malformed" }]],
      ["for=9.9.9.9, for=1.2.3.4 x, for=5.6.7.8", [{ t: "for", node: "9.9.9.9" }, { t: "malformed" }]],
      ['for="a"b', [{ t: "malformed" }]],
      ["for = 1.2.3.4", [{ t: "malformed" }]],
      ['for="\u0000"', [{ t: "malformed" }]],
      ["=1.2.3.4", [{ t: "malformed" }]],
    ];
    for (const [line, expected] of cases) assert.deepEqual(forwardedElements(line), expected, line);
  });

  it("reads back the for of every element a proxy may write, one line or many", () => {
    fc.assert(
      fc.property(fc.array(withElement(fc.oneof(trustedHop, untrustedHop)), { maxLength: 6 }), (elements) => {
        const expected = elements.map(({ address }) => canonical(address));
        const read = (lines: string[]) =>
          lines.flatMap(forwardedElements).map((e) => (e.t === "for" ? forwardedNodeAddress(e.node) : e.t));
        assert.deepEqual(read([elements.map((e) => e.text).join(", ")]), expected);
        assert.deepEqual(read(elements.map((e) => e.text)), expected);
      }),
    );
  });

  it("never throws, and never reads past a malformed element", () => {
    fc.assert(
      fc.property(fc.array(visitorElement, { maxLength: 5 }), (parts) => {
        const elements = forwardedElements(parts.join(","));
        const broken = elements.findIndex((e) => e.t === "malformed");
        assert.ok(broken === -1 || broken === elements.length - 1);
      }),
    );
  });
});

describe("forwardedNodeAddress", () => {
  it("reads the address an RFC 7239 §6 node names, or none", () => {
    const cases: Array<[string, string | undefined]> = [
      ["192.0.2.43", "192.0.2.43"],
      ["192.0.2.43:47011", "192.0.2.43"],
      ["192.0.2.43:_p0rt", "192.0.2.43"],
      ["[2001:DB8:cafe::17]", "2001:db8:cafe::17"],
      ["[2001:db8:cafe::17]:4711", "2001:db8:cafe::17"],
      ["[::ffff:192.0.2.43]", "192.0.2.43"],
      ["unknown", undefined],
      ["unknown:4711", undefined],
      ["_hidden", undefined],
      ["_SEVKISEK:_p", undefined],
      ["2001:db8::17", undefined],
      ["[192.0.2.43]", undefined],
      ["192.0.2.43:", undefined],
      ["192.0.2.43:123456", undefined],
      ["192.0.2.043", undefined],
      ["[2001:db8::17", undefined],
      ["host.example", undefined],
      ["", undefined],
    ];
    for (const [node, address] of cases) assert.equal(forwardedNodeAddress(node), address, node);
  });
});

describe("visitorAddress from Forwarded", () => {
  const walk = (peer: string, lines: string[]) => visitorAddress(peer, lines, trusted, "forwarded");

  it("takes the peer and ignores Forwarded when the peer is not trusted, whatever the header", () => {
    fc.assert(
      fc.property(untrustedHop, fc.array(visitorElement, { maxLength: 8 }), (peer, elements) => {
        assert.deepEqual(walk(peer, [elements.join(",")]), {
          address: canonical(peer),
          chain: [canonical(peer)],
        });
      }),
    );
  });

  it("behind trusted hops, finds the untrusted address they appended, whatever the visitor wrote in lines of its own", () => {
    fc.assert(
      fc.property(
        fc.array(visitorElement, { maxLength: 4 }),
        withElement(untrustedHop),
        fc.array(withElement(trustedHop), { maxLength: 4 }),
        trustedHop,
        fc.boolean(),
        (injected, visitor, hops, peer, oneLine) => {
          const appended = [visitor.text, ...hops.map((hop) => hop.text)];
          const lines = [...injected, ...(oneLine ? [appended.join(", ")] : appended)];
          assert.deepEqual(walk(peer, lines), {
            address: canonical(visitor.address),
            chain: [visitor.address, ...hops.map((hop) => hop.address), peer].map(canonical),
          });
        },
      ),
    );
  });

  it("behind a proxy that appends to the visitor's line, finds the visitor or makes it unknown, never another address", () => {
    fc.assert(
      fc.property(
        fc.array(visitorElement, { minLength: 1, maxLength: 4 }),
        withElement(untrustedHop),
        fc.array(withElement(trustedHop), { maxLength: 3 }),
        trustedHop,
        (injected, visitor, hops, peer) => {
          const line = [...injected, visitor.text, ...hops.map((hop) => hop.text)].join(", ");
          const result = walk(peer, [line]);
          const chain = [visitor.address, ...hops.map((hop) => hop.address), peer].map(canonical);
          if (result.address === undefined) {
            // Visitor-written junk that spoils the line spoils what was appended to it: unknown.
            assert.equal(result.chain[0], "unknown");
            assert.deepEqual(result.chain.slice(1), chain.slice(chain.length - result.chain.length + 1));
          } else {
            assert.deepEqual(result, { address: canonical(visitor.address), chain }, line);
          }
        },
      ),
    );
  });

  it("behind trusted hops, makes the visitor unknown when the nearest untrusted element names no address or breaks", () => {
    fc.assert(
      fc.property(
        fc.array(visitorElement, { maxLength: 4 }),
        fc.oneof(namelessForwardedElement, malformedForwardedElement),
        fc.array(withElement(trustedHop), { maxLength: 4 }),
        trustedHop,
        fc.boolean(),
        (injected, nameless, hops, peer, oneLine) => {
          const appended = [nameless, ...hops.map((hop) => hop.text)];
          const lines = [...injected, ...(oneLine ? [appended.join(", ")] : appended)];
          const result = walk(peer, lines);
          assert.equal(result.address, undefined);
          assert.equal(result.chain[0], "unknown");
          const chain = [...hops.map((hop) => hop.address), peer].map(canonical);
          assert.deepEqual(result.chain.slice(1), chain.slice(chain.length - result.chain.length + 1));
          assert.equal(compileIpRules(["0.0.0.0/0", "::/0"]).matches(result.address), false);
        },
      ),
    );
  });
});

describe("the one header the trusted proxies name the visitor in", () => {
  const request = (peer: string, headers: Array<[string, string]>) => ({
    socket: { remoteAddress: peer },
    rawHeaders: headers.flat(),
  });
  const viaForwarded = createVisitorAddressOf(TRUSTED, "forwarded");
  const viaXff = createVisitorAddressOf(TRUSTED, "x-forwarded-for");
  const xffEntry = fc.oneof(
    fc.oneof(trustedHop, untrustedHop).chain((address) => spelled(address)),
    namelessEntry,
    junk.filter((s) => !s.includes(",")),
  );
  const names = (name: string) =>
    fc.constantFrom(name, name.toUpperCase(), name[0]!.toUpperCase() + name.slice(1));

  it("reads Forwarded only: X-Forwarded-For lines anywhere among its lines change nothing", () => {
    fc.assert(
      fc.property(
        trustedHop,
        fc.array(fc.tuple(names("forwarded"), visitorElement), { maxLength: 5 }),
        fc.array(fc.tuple(fc.nat(), names("x-forwarded-for"), fc.array(xffEntry, { maxLength: 3 })), {
          maxLength: 4,
        }),
        (peer, forwarded, spoofs) => {
          const headers: Array<[string, string]> = [...forwarded];
          for (const [at, name, entries] of spoofs)
            headers.splice(at % (headers.length + 1), 0, [name, entries.join(",")]);
          const expected = visitorAddress(
            peer,
            forwarded.map(([, line]) => line),
            trusted,
            "forwarded",
          );
          assert.deepEqual(viaForwarded(request(peer, headers)), expected);
        },
      ),
    );
  });

  it("reads X-Forwarded-For only: Forwarded lines anywhere among its lines change nothing", () => {
    fc.assert(
      fc.property(
        trustedHop,
        fc.array(fc.tuple(names("x-forwarded-for"), fc.array(xffEntry, { maxLength: 3 })), { maxLength: 5 }),
        fc.array(fc.tuple(fc.nat(), names("forwarded"), visitorElement), { maxLength: 4 }),
        (peer, xff, spoofs) => {
          const headers: Array<[string, string]> = xff.map(([name, entries]) => [name, entries.join(",")]);
          const expected = visitorAddress(
            peer,
            headers.map(([, line]) => line),
            trusted,
            "x-forwarded-for",
          );
          for (const [at, name, line] of spoofs) headers.splice(at % (headers.length + 1), 0, [name, line]);
          assert.deepEqual(viaXff(request(peer, headers)), expected);
        },
      ),
    );
  });

  it("never falls back to the other header when the chosen one is missing", () => {
    const peer = "10.0.0.1";
    assert.deepEqual(viaForwarded(request(peer, [["X-Forwarded-For", "198.51.100.9"]])), {
      address: peer,
      chain: [peer],
    });
    assert.deepEqual(viaXff(request(peer, [["Forwarded", "for=198.51.100.9"]])), {
      address: peer,
      chain: [peer],
    });
    assert.deepEqual(viaForwarded(request(peer, [["Forwarded", 'for="[2001:DB9::7]:4711";proto=https']])), {
      address: "2001:db9::7",
      chain: ["2001:db9::7", peer],
    });
  });
});
