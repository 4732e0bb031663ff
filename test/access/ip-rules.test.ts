import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { canonicalAddress, compileIpRules, parseCidr } from "../../src/server/access/ip-rules.js";

/** Reference model: an address as a 128-bit number in the IPv6 space, IPv4 as ::ffff:a.b.c.d. */
const MAPPED_BASE = 0xffffn << 32n;
const v4ToBig = (octets: number[]) => octets.reduce((n, o) => (n << 8n) | BigInt(o), 0n);
const v4Text = (octets: number[]) => octets.join(".");
const v6Text = (value: bigint) =>
  Array.from({ length: 8 }, (_, i) => ((value >> BigInt((7 - i) * 16)) & 0xffffn).toString(16)).join(":");
const inBlock = (address: bigint, base: bigint, bits: number, width: number) => {
  const shift = BigInt(width - bits);
  return address >> shift === base >> shift;
};

const octets = fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 4, maxLength: 4 });
const v6 = fc.bigInt({ min: 0n, max: (1n << 128n) - 1n });

describe("parseCidr", () => {
  const cases: Array<[string, string | undefined]> = [
    ["10.0.0.0/8", "10.0.0.0/8"],
    ["10.1.2.3", "10.1.2.3/32"],
    ["2001:DB8::/32", "2001:db8::/32"],
    ["::1", "::1/128"],
    ["0.0.0.0/0", "0.0.0.0/0"],
    ["10.0.0.0/33", undefined],
    ["::/129", undefined],
    ["10.0.0.0/-1", undefined],
    ["10.0.0.0/8/8", undefined],
    ["10.0.0/8", undefined],
    ["example.com", undefined],
    ["10.0.0.0/ 8", undefined],
    ["fe80::1%eth0/64", undefined],
    ["::ffff:10.0.0.0/104", "10.0.0.0/8"],
    ["::ffff:a00:0/104", "10.0.0.0/8"],
    ["::ffff:0:0/96", "0.0.0.0/0"],
    ["::ffff:0:0/95", "::ffff:0:0/95"],
  ];
  for (const [input, expected] of cases) {
    it(`${input} → ${expected ?? "refused"}`, () => {
      const parsed = parseCidr(input);
      assert.equal(parsed.ok ? parsed.cidr : undefined, expected);
      if (!parsed.ok) assert.match(parsed.reason, /CIDR|address|prefix/);
    });
  }
});

describe("canonicalAddress", () => {
  it("turns IPv4-mapped IPv6 into IPv4 and drops a zone index", () => {
    assert.deepEqual(canonicalAddress("::ffff:10.0.0.1"), { address: "10.0.0.1", family: "ipv4" });
    assert.deepEqual(canonicalAddress("::FFFF:127.0.0.1"), { address: "127.0.0.1", family: "ipv4" });
    assert.deepEqual(canonicalAddress("fe80::1%eth0"), { address: "fe80::1", family: "ipv6" });
    assert.equal(canonicalAddress(undefined), undefined);
    assert.equal(canonicalAddress("/run/hopgate.sock"), undefined);
  });
});

describe("compileIpRules", () => {
  it("matches IPv4 blocks exactly at their prefix boundary, peers written as IPv4 or IPv4-mapped IPv6", () => {
    fc.assert(
      fc.property(octets, octets, fc.integer({ min: 0, max: 32 }), (base, peer, bits) => {
        const rules = compileIpRules([`${v4Text(base)}/${bits}`]);
        const expected = inBlock(v4ToBig(peer), v4ToBig(base), bits, 32);
        assert.equal(rules.matches(v4Text(peer)), expected);
        assert.equal(rules.matches(`::ffff:${v4Text(peer)}`), expected);
        assert.equal(
          rules.matches(
            `::ffff:${v6Text(MAPPED_BASE | v4ToBig(peer))
              .split(":")
              .slice(6)
              .join(":")}`,
          ),
          expected,
        );
      }),
      { numRuns: 2000 },
    );
  });

  it("matches IPv6 blocks exactly at their prefix boundary, however the address is written", () => {
    fc.assert(
      fc.property(v6, v6, fc.integer({ min: 0, max: 128 }), fc.boolean(), (base, peer, bits, nearBase) => {
        // Half the peers share the block's prefix but for a bit next to the boundary.
        const candidate = nearBase ? base ^ (1n << BigInt(Math.max(0, 127 - bits))) : peer;
        const rules = compileIpRules([`${v6Text(base)}/${bits}`]);
        const expected = inBlock(candidate, base, bits, 128);
        assert.equal(rules.matches(v6Text(candidate)), expected);
        assert.equal(rules.matches(v6Text(candidate).toUpperCase()), expected);
      }),
      { numRuns: 2000 },
    );
  });

  it("treats an IPv4 block and its IPv4-mapped IPv6 block as the same, both ways", () => {
    fc.assert(
      fc.property(octets, octets, fc.integer({ min: 0, max: 32 }), (base, peer, bits) => {
        const mappedRule = compileIpRules([`::ffff:${v4Text(base)}/${96 + bits}`]);
        const expected = inBlock(v4ToBig(peer), v4ToBig(base), bits, 32);
        assert.equal(mappedRule.matches(v4Text(peer)), expected);
        assert.equal(mappedRule.matches(`::ffff:${v4Text(peer)}`), expected);
      }),
      { numRuns: 1000 },
    );
  });

  it("keeps IPv4 and IPv6 apart otherwise: ::/0 holds no IPv4 peer, 0.0.0.0/0 no IPv6 one", () => {
    assert.equal(compileIpRules(["::/0"]).matches("127.0.0.1"), false);
    assert.equal(compileIpRules(["0.0.0.0/0"]).matches("::1"), false);
    assert.equal(compileIpRules(["0.0.0.0/0", "::/0"]).matches("::1"), true);
    assert.equal(compileIpRules(["::1"]).matches("0:0:0:0:0:0:0:1"), true);
    assert.equal(compileIpRules(["127.0.0.1"]).matches("::1"), false, "loopbacks of the two families differ");
  });

  it("matches nothing for an address that is not an IP address", () => {
    const rules = compileIpRules(["0.0.0.0/0", "::/0"]);
    for (const address of [undefined, "", "unknown", "10.0.0.1.evil", "::ffff:999.0.0.1"])
      assert.equal(rules.matches(address), false, String(address));
  });
});
