import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { normalizeDomain } from "../../src/lib/domain-name.js";
import { hostnameUnder, normalizeWildcard, wildcardOf } from "../../src/lib/wildcard-domain.js";
import { createOrderBudget } from "../../src/server/certs/acme/order-budget.js";
import { LabelLeases } from "../../src/server/subdomains/label-leases.js";
import { randomLabel } from "../../src/server/subdomains/random-label.js";

const P = "*.example.test";

describe("LabelLeases", () => {
  it("gives a label to its first holder only, shares it among that holder's tunnels, frees it after the last", () => {
    const released: string[] = [];
    const leases = new LabelLeases({ graceMs: 0, maxLabelsPerBase: 0, onReleased: (h) => released.push(h) });
    const a1 = leases.claim("a.example.test", P, "one");
    const a2 = leases.claim("a.example.test", P, "one");
    const b = leases.claim("a.example.test", P, "two");
    assert.ok(a1.ok && a2.ok);
    assert.deepEqual(b.ok ? "granted" : b.reason, "label_taken");
    a1.lease.release();
    a1.lease.release(); // idempotent: the second tunnel still holds it
    assert.equal(leases.holds("a.example.test"), true);
    a2.lease.release();
    assert.equal(leases.holds("a.example.test"), false);
    assert.deepEqual(released, ["a.example.test"]);
    assert.equal(leases.claim("a.example.test", P, "two").ok, true);
  });

  it("keeps a released label for its holder during the grace period", async () => {
    const leases = new LabelLeases({ graceMs: 100, maxLabelsPerBase: 0 });
    const first = leases.claim("g.example.test", P, "one");
    assert.ok(first.ok);
    first.lease.release();
    const stranger = leases.claim("g.example.test", P, "two");
    assert.equal(
      stranger.ok ? "granted" : stranger.message,
      "g.example.test is held for a reconnect of its client; choose another label",
    );
    const back = leases.claim("g.example.test", P, "one");
    assert.ok(back.ok, "the same holder gets it back");
    back.lease.release();
    await new Promise((resolve) => setTimeout(resolve, 250));
    assert.equal(leases.holds("g.example.test"), false);
    leases.stop();
  });

  it("limits the labels of one wildcard, not of others, and drops a wildcard's labels at once", () => {
    const leases = new LabelLeases({ graceMs: 60_000, maxLabelsPerBase: 2 });
    assert.ok(leases.claim("a.example.test", P, "x").ok);
    assert.ok(leases.claim("b.example.test", P, "y").ok);
    const third = leases.claim("c.example.test", P, "z");
    assert.equal(third.ok ? "granted" : third.reason, "label_limit");
    assert.ok(leases.claim("a.other.test", "*.other.test", "z").ok);
    assert.deepEqual(leases.dropPattern(P).sort(), ["a.example.test", "b.example.test"]);
    assert.ok(leases.claim("c.example.test", P, "z").ok);
    leases.stop();
  });
});

describe("wildcard names", () => {
  const CASES: Array<[string, string | RegExp]> = [
    ["*.Tunnel.Example.com.", "*.tunnel.example.com"],
    ["*.com", /at least two labels/],
    ["*.*.example.com", /exactly one leading/],
    ["a.*.example.com", /must start with exactly one/],
    ["*example.com", /must start with exactly one/],
    ["*.", /empty/],
    ["*.exa mple.com", /whitespace/],
    ["*.127.0.0.1", /IP address/],
  ];
  for (const [input, expected] of CASES) {
    it(`normalizes ${JSON.stringify(input)}`, () => {
      const result = normalizeWildcard(input);
      if (typeof expected === "string") assert.deepEqual(result.ok && result.pattern, expected);
      else assert.match(result.ok ? result.pattern : result.reason, expected);
    });
  }

  it("maps a name to the one wildcard that covers it, and back (fast-check)", () => {
    const label = fc.stringMatching(/^[a-z0-9](?:[a-z0-9-]{0,20}[a-z0-9])?$/);
    fc.assert(
      fc.property(fc.array(label, { minLength: 1, maxLength: 5 }), (labels) => {
        const hostname = labels.join(".");
        const covered = wildcardOf(hostname);
        if (labels.length < 3) return covered === undefined;
        if (!covered) return false;
        const pattern = normalizeWildcard(covered.pattern);
        return (
          covered.label === labels[0] &&
          hostnameUnder(covered.pattern, covered.label) === hostname &&
          (!pattern.ok || pattern.pattern === covered.pattern)
        );
      }),
    );
  });

  it("accepts nothing with a '*' outside one leading label (fast-check)", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), fc.string({ maxLength: 40 }), (before, after) => {
        const result = normalizeWildcard(`${before}*${after}`);
        if (!result.ok) return true;
        return (
          result.pattern.startsWith("*.") && !result.base.includes("*") && normalizeDomain(result.base).ok
        );
      }),
    );
  });
});

describe("randomLabel", () => {
  it("draws 16 base32 characters starting with a letter, never the same twice in 10,000", () => {
    const seen = new Set<string>();
    for (let i = 0; i < 10_000; i++) {
      const label = randomLabel();
      assert.match(label, /^[a-z][a-z2-7]{15}$/);
      seen.add(label);
    }
    assert.equal(seen.size, 10_000);
  });
});

describe("order budget", () => {
  it("allows `max` orders per window and says when the next one may go", () => {
    const budget = createOrderBudget([
      { windowMs: 1_000, max: 2, name: "PER_SECOND" },
      { windowMs: 10_000, max: 3, name: "PER_TEN" },
    ]);
    assert.equal(budget.take(0), undefined);
    assert.equal(budget.take(100), undefined);
    assert.deepEqual(budget.take(200), {
      reason: "2 certificate orders within 1 s reached (PER_SECOND)",
      retryAtMs: 1_000,
    });
    assert.equal(budget.take(1_000), undefined);
    assert.match(budget.take(2_500)?.reason ?? "", /PER_TEN/);
    assert.equal(budget.take(10_001), undefined);
    assert.equal(createOrderBudget([{ windowMs: 1, max: 0, name: "OFF" }]).take(), undefined);
  });
});
