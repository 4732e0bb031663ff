import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { compileIpRules } from "../../src/server/access/ip-rules.js";
import { forwardedForEntryAddress } from "../../src/server/edge/forwarded-for-entry.js";
import { MAX_TRUSTED_HOPS, visitorAddress } from "../../src/server/edge/visitor-address.js";
import { requestHeaderMap } from "../../src/server/proxy/request-head.js";
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
/** What a visitor may write into X-Forwarded-For: addresses of any kind and junk. */
const visitorEntry = fc.oneof(
  trustedHop,
  untrustedHop,
  fc.string({ maxLength: 12 }).filter((s) => !s.includes(",")),
  fc.constantFrom("", " ", "unknown", "[::1]", "1.2.3.4:80", "10.0.0.1/8", "fe80::1%eth0"),
  namelessEntry,
);

/** The entries as X-Forwarded-For field lines, split at arbitrary commas, with optional spaces. */
function asLines(entries: readonly string[], cuts: readonly boolean[], spaced: boolean): string[] {
  const lines: string[] = [];
  let current: string[] = [];
  entries.forEach((entry, i) => {
    current.push(entry);
    if (cuts[i] === true && i < entries.length - 1) {
      lines.push(current.join(spaced ? " , " : ","));
      current = [];
    }
  });
  if (current.length > 0) lines.push(current.join(spaced ? " , " : ","));
  return lines;
}

const canonical = (address: string) => address.replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/, "$1");

describe("visitorAddress", () => {
  it("takes the peer and ignores X-Forwarded-For when the peer is not trusted, whatever the header", () => {
    fc.assert(
      fc.property(untrustedHop, fc.array(visitorEntry, { maxLength: 8 }), (peer, entries) => {
        const result = visitorAddress(peer, [entries.join(",")], trusted);
        assert.equal(result.address, canonical(peer));
        assert.deepEqual(result.chain, [canonical(peer)]);
      }),
    );
    assert.deepEqual(visitorAddress("10.0.0.1", ["203.0.113.9"], compileIpRules([])), {
      address: "10.0.0.1",
      chain: ["10.0.0.1"],
    });
  });

  it("behind trusted hops, finds the untrusted address they appended, however they spell it and whatever the visitor wrote left of it", () => {
    const spelledHop = (hop: fc.Arbitrary<string>) =>
      hop.chain((address) => spelled(address).map((text) => ({ address, text })));
    fc.assert(
      fc.property(
        fc.array(visitorEntry, { maxLength: 6 }),
        spelledHop(untrustedHop),
        fc.array(spelledHop(trustedHop), { maxLength: 4 }),
        trustedHop,
        fc.array(fc.boolean(), { maxLength: 12 }),
        fc.boolean(),
        (injected, visitor, hops, peer, cuts, spaced) => {
          const texts = [...injected, visitor.text, ...hops.map((hop) => hop.text)];
          const lines = asLines(texts, cuts, spaced);
          const result = visitorAddress(peer, lines, trusted);
          assert.equal(result.address, canonical(visitor.address));
          assert.deepEqual(
            result.chain,
            [visitor.address, ...hops.map((hop) => hop.address), peer].map(canonical),
          );
        },
      ),
    );
  });

  it("behind trusted hops, makes the visitor unknown when the nearest untrusted entry names no address", () => {
    fc.assert(
      fc.property(
        fc.array(visitorEntry, { maxLength: 6 }),
        namelessEntry,
        fc.array(trustedHop, { maxLength: 4 }),
        trustedHop,
        (injected, nameless, hops, peer) => {
          const result = visitorAddress(peer, [[...injected, nameless, ...hops].join(",")], trusted);
          assert.equal(result.address, undefined);
          assert.deepEqual(result.chain, ["unknown", ...hops.map(canonical), canonical(peer)]);
          // The policy's view: an unknown visitor passes no allow list, even one holding every hop.
          assert.equal(compileIpRules(["0.0.0.0/0", "::/0"]).matches(result.address), false);
        },
      ),
    );
  });

  it("with a trusted peer, answers a trusted address only when every entry is trusted", () => {
    fc.assert(
      fc.property(trustedHop, fc.array(visitorEntry, { maxLength: 10 }), (peer, entries) => {
        const result = visitorAddress(peer, [entries.join(",")], trusted);
        const chain = result.chain;
        assert.equal(chain.at(-1), canonical(peer));
        // Every hop after the first is trusted: the walk never passes an untrusted address.
        for (const hop of chain.slice(1)) assert.ok(trusted.matches(hop), hop);
        const given = entries.map((entry) => entry.trim()).filter((entry) => entry !== "");
        const next = given[given.length - chain.length];
        if (result.address === undefined) {
          // `unknown` stands for the entry the walk stopped at.
          const stoppedAt = given[given.length - chain.length + 1];
          assert.equal(chain[0], "unknown");
          assert.ok(
            stoppedAt !== undefined && forwardedForEntryAddress(stoppedAt) === undefined,
            `${stoppedAt}`,
          );
        } else {
          assert.equal(result.address, chain[0]);
          // A trusted visitor only when the walk ran out of entries.
          if (trusted.matches(result.address)) assert.equal(next, undefined);
        }
      }),
    );
  });

  it("handles the cases of a table", () => {
    const cases: Array<[string, string | undefined, string[], string | undefined, string[]]> = [
      ["no header from a trusted peer", "127.0.0.1", [], "127.0.0.1", ["127.0.0.1"]],
      ["mapped peer", "::ffff:127.0.0.1", ["203.0.113.9"], "203.0.113.9", ["203.0.113.9", "127.0.0.1"]],
      [
        "several lines, skipping trusted",
        "127.0.0.1",
        ["6.6.6.6, 203.0.113.9", "10.1.1.1"],
        "203.0.113.9",
        ["203.0.113.9", "10.1.1.1", "127.0.0.1"],
      ],
      [
        "all trusted: the leftmost",
        "127.0.0.1",
        ["10.0.0.2, 10.0.0.1"],
        "10.0.0.2",
        ["10.0.0.2", "10.0.0.1", "127.0.0.1"],
      ],
      [
        "junk makes the visitor unknown",
        "127.0.0.1",
        ["203.0.113.9, junk, 10.0.0.1"],
        undefined,
        ["unknown", "10.0.0.1", "127.0.0.1"],
      ],
      ["obfuscated at the right", "127.0.0.1", ["203.0.113.9, _hidden"], undefined, ["unknown", "127.0.0.1"]],
      ["a port", "127.0.0.1", ["6.6.6.6, 203.0.113.7:51234"], "203.0.113.7", ["203.0.113.7", "127.0.0.1"]],
      [
        "IPv6 with a port, quoted, through a trusted hop with a port",
        "127.0.0.1",
        ['"[2001:DB9::7]:443", 10.0.0.1:8080'],
        "2001:db9::7",
        ["2001:db9::7", "10.0.0.1", "127.0.0.1"],
      ],
      ["mapped IPv4", "127.0.0.1", ["::FFFF:203.0.113.7"], "203.0.113.7", ["203.0.113.7", "127.0.0.1"]],
      ["a zone index", "127.0.0.1", ["fe80::1%eth0"], "fe80::1", ["fe80::1", "127.0.0.1"]],
      [
        "empty elements ignored",
        "127.0.0.1",
        [" ,203.0.113.9,, "],
        "203.0.113.9",
        ["203.0.113.9", "127.0.0.1"],
      ],
      ["IPv6 lowercased", "2001:db8::1", ["2001:DB9::A"], "2001:db9::a", ["2001:db9::a", "2001:db8::1"]],
      ["no peer", undefined, ["203.0.113.9"], undefined, []],
    ];
    for (const [name, peer, lines, address, chain] of cases) {
      assert.deepEqual(visitorAddress(peer, lines, trusted), { address, chain }, name);
    }
  });

  it("walks at most MAX_TRUSTED_HOPS trusted hops: a longer trusted chain makes the visitor unknown, whatever precedes it", () => {
    const hopsOf = (n: number) => Array.from({ length: n }, (_, i) => `2001:db8::${(i + 1).toString(16)}`);
    fc.assert(
      fc.property(
        fc.array(visitorEntry, { maxLength: 6 }),
        fc.integer({ min: 0, max: MAX_TRUSTED_HOPS * 4 }),
        fc.constantFrom("x-forwarded-for" as const, "forwarded" as const),
        (injected, count, header) => {
          const hops = hopsOf(count);
          const entries = header === "forwarded" ? hops.map((hop) => `for="[${hop}]"`) : hops;
          const prefix = header === "forwarded" ? [] : injected;
          const result = visitorAddress("127.0.0.1", [[...prefix, ...entries].join(",")], trusted, header);
          if (count <= MAX_TRUSTED_HOPS) {
            // Short enough: every hop is walked and what the visitor wrote left of them decides.
            assert.ok(result.chain.length >= count + 1);
            if (injected.length === 0 || header === "forwarded")
              assert.equal(result.address, count === 0 ? "127.0.0.1" : "2001:db8::1");
          } else {
            assert.equal(result.address, undefined);
            assert.equal(result.chain[0], "unknown");
            assert.equal(result.chain.length, MAX_TRUSTED_HOPS + 3);
          }
        },
      ),
    );
    // Exactly MAX_TRUSTED_HOPS trusted hops and nothing else: the leftmost, as nginx would say.
    const all = hopsOf(MAX_TRUSTED_HOPS);
    assert.equal(visitorAddress("127.0.0.1", [all.join(",")], trusted).address, "2001:db8::1");
    // One more, or an untrusted visitor behind MAX_TRUSTED_HOPS + 1: unknown.
    const more = hopsOf(MAX_TRUSTED_HOPS + 1);
    assert.equal(visitorAddress("127.0.0.1", [more.join(",")], trusted).address, undefined);
    assert.equal(
      visitorAddress("127.0.0.1", [["203.0.113.9", ...more].join(",")], trusted).address,
      undefined,
    );
    // An untrusted visitor right behind MAX_TRUSTED_HOPS trusted hops is still found.
    assert.equal(
      visitorAddress("127.0.0.1", [["203.0.113.9", ...all].join(",")], trusted).address,
      "203.0.113.9",
    );
  });
});

describe("the forwarding headers of the backend request", () => {
  const head = (forwardedFor: string[]) =>
    requestHeaderMap(
      {
        method: "GET",
        url: "/",
        host: "app.example.com",
        rawHeaders: ["X-Forwarded-For", "6.6.6.6", "Forwarded", "for=6.6.6.6", "X-Real-IP", "6.6.6.6"],
        forwardedFor,
        requestId: "r1",
        upgrade: false,
        bodyOfUnknownLength: false,
      },
      2,
    );
  const values = (map: ReturnType<typeof head>, name: string) => [...(map[name]?.values ?? [])];

  it("carry the chain, visitor first, with one Forwarded element per hop (IPv6 bracketed and quoted)", () => {
    const map = head(["2001:db9::a", "10.0.0.1", "::1"]);
    assert.deepEqual(values(map, "x-forwarded-for"), ["2001:db9::a, 10.0.0.1, ::1"]);
    assert.deepEqual(values(map, "x-real-ip"), ["2001:db9::a"]);
    assert.deepEqual(values(map, "forwarded"), [
      'for="[2001:db9::a]", for=10.0.0.1, for="[::1]";host=app.example.com;proto=https',
    ]);
  });

  it("carry only the peer when nothing is trusted, and never the visitor's own values", () => {
    const map = head(["203.0.113.9"]);
    assert.deepEqual(values(map, "x-forwarded-for"), ["203.0.113.9"]);
    assert.deepEqual(values(map, "forwarded"), ["for=203.0.113.9;host=app.example.com;proto=https"]);
    assert.deepEqual(values(head([]), "x-real-ip"), ["unknown"]);
  });
});

describe("forwardedForEntryAddress", () => {
  it("reads the address an entry names, or none", () => {
    const cases: Array<[string, string | undefined]> = [
      ["203.0.113.7", "203.0.113.7"],
      ["203.0.113.7:51234", "203.0.113.7"],
      [" \t203.0.113.7:1 ", "203.0.113.7"],
      ["2001:db8::7", "2001:db8::7"],
      ["2001:DB8::7", "2001:db8::7"],
      ["[2001:db8::7]", "2001:db8::7"],
      ["[2001:db8::7]:443", "2001:db8::7"],
      ['"[2001:db8::7]:443"', "2001:db8::7"],
      ['"203.0.113.7"', "203.0.113.7"],
      ["::ffff:203.0.113.7", "203.0.113.7"],
      ["[::ffff:cb00:7107]:80", "203.0.113.7"],
      ["fe80::1%eth0", "fe80::1"],
      ["[fe80::1%25eth0]:8", "fe80::1"],
      ["2001:db8::7:443", "2001:db8::7:443"], // a valid address: without brackets no port is read
      ["unknown", undefined],
      ["_hidden", undefined],
      ["host.example", undefined],
      ["203.0.113.7/32", undefined],
      ["203.0.113.7:", undefined],
      ["203.0.113.7:123456", undefined],
      ["203.0.113.07", undefined],
      ["[203.0.113.7]", undefined],
      ["[2001:db8::7", undefined],
      ["[2001:db8::7]:", undefined],
      ['"203.0.113.7', undefined],
      ['"\\"203.0.113.7\\""', undefined],
      ['""', undefined],
      ["", undefined],
    ];
    for (const [entry, address] of cases) assert.equal(forwardedForEntryAddress(entry), address, entry);
  });
});
