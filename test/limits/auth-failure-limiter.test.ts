import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  AuthFailureLimiter,
  type AuthFailureLimiterOptions,
} from "../../src/server/limits/auth-failure-limiter.js";

const WINDOW_MS = 60_000;
const BLOCK_MS = 300_000;

/** A limiter on a clock the test moves; `blocks` records every onBlocked call. */
function limiterAt(options: Partial<AuthFailureLimiterOptions> = {}) {
  const clock = { nowMs: 1_000_000 };
  const blocks: Array<[string, number]> = [];
  const limiter = new AuthFailureLimiter({
    maxFailures: 10,
    windowMs: WINDOW_MS,
    blockMs: BLOCK_MS,
    now: () => clock.nowMs,
    onBlocked: (address, blockMs) => blocks.push([address, blockMs]),
    ...options,
  });
  return { limiter, clock, blocks };
}

function fail(limiter: AuthFailureLimiter, address: string, times: number): void {
  for (let i = 0; i < times; i++) limiter.recordFailure(address);
}

describe("AuthFailureLimiter", () => {
  it("blocks an address at its 10th failure within the window, for the block period", () => {
    const { limiter, clock, blocks } = limiterAt();
    fail(limiter, "198.51.100.1", 9);
    assert.equal(limiter.retryAfterMs("198.51.100.1"), 0, "9 failures: still allowed");
    limiter.recordFailure("198.51.100.1");
    assert.equal(limiter.retryAfterMs("198.51.100.1"), BLOCK_MS);
    assert.deepEqual(blocks, [["198.51.100.1", BLOCK_MS]]);
    clock.nowMs += BLOCK_MS - 1;
    assert.equal(limiter.retryAfterMs("198.51.100.1"), 1);
    clock.nowMs += 1;
    assert.equal(limiter.retryAfterMs("198.51.100.1"), 0, "the block ends on time");
    fail(limiter, "198.51.100.1", 9);
    assert.equal(limiter.retryAfterMs("198.51.100.1"), 0, "the count started afresh after the block");
  });

  it("counts only failures inside the sliding window", () => {
    const { limiter, clock } = limiterAt();
    fail(limiter, "198.51.100.2", 5);
    clock.nowMs += 30_000;
    fail(limiter, "198.51.100.2", 4);
    clock.nowMs += 30_000; // the first 5 are now exactly one window old
    limiter.recordFailure("198.51.100.2");
    assert.equal(limiter.retryAfterMs("198.51.100.2"), 0, "5 of the 10 failures fell out of the window");
    fail(limiter, "198.51.100.2", 4);
    assert.equal(limiter.retryAfterMs("198.51.100.2"), 0, "9 inside the window");
    limiter.recordFailure("198.51.100.2");
    assert.equal(limiter.retryAfterMs("198.51.100.2"), BLOCK_MS);
  });

  it("does not extend a block for failures that arrive while it holds", () => {
    const { limiter, clock, blocks } = limiterAt();
    fail(limiter, "198.51.100.3", 10);
    clock.nowMs += 1_000;
    fail(limiter, "198.51.100.3", 50);
    assert.equal(limiter.retryAfterMs("198.51.100.3"), BLOCK_MS - 1_000);
    assert.equal(blocks.length, 1);
  });

  it("limits each address on its own, IPv4-mapped as IPv4 and IPv6 per /64", () => {
    const { limiter } = limiterAt({ maxFailures: 3 });
    fail(limiter, "198.51.100.4", 2);
    limiter.recordFailure("::ffff:198.51.100.4");
    assert.ok(limiter.retryAfterMs("198.51.100.4") > 0, "mapped and plain IPv4 are one address");
    assert.equal(limiter.retryAfterMs("198.51.100.5"), 0, "a neighbour is not blocked");
    limiter.recordFailure("2001:db8:1:2::a");
    limiter.recordFailure("2001:db8:1:2::b");
    limiter.recordFailure("2001:db8:1:2:ffff::c");
    assert.ok(limiter.retryAfterMs("2001:db8:1:2::d") > 0, "one /64 is one address");
    assert.equal(limiter.retryAfterMs("2001:db8:1:3::a"), 0, "the next /64 is not");
  });

  it("is off with maxFailures 0: never blocks and tracks nothing", () => {
    const { limiter, blocks } = limiterAt({ maxFailures: 0 });
    fail(limiter, "198.51.100.6", 1_000);
    assert.equal(limiter.retryAfterMs("198.51.100.6"), 0);
    assert.equal(limiter.trackedAddresses, 0);
    assert.equal(blocks.length, 0);
  });

  it("forgets addresses whose failures and block have expired", () => {
    const { limiter, clock } = limiterAt();
    for (let i = 0; i < 100; i++) limiter.recordFailure(`10.0.0.${i}`);
    fail(limiter, "10.0.1.1", 10);
    assert.equal(limiter.trackedAddresses, 101);
    clock.nowMs += WINDOW_MS;
    limiter.recordFailure("10.0.2.1");
    assert.equal(limiter.trackedAddresses, 2, "the blocked address and the new one remain");
    clock.nowMs += BLOCK_MS;
    limiter.recordFailure("10.0.2.2");
    assert.equal(limiter.trackedAddresses, 1);
  });

  it("never tracks more than its cap, and a flood of new addresses does not lift a block", () => {
    const { limiter } = limiterAt({ maxTrackedAddresses: 100 });
    fail(limiter, "192.0.2.1", 10);
    for (let i = 0; i < 10_000; i++) limiter.recordFailure(`10.${i >> 8}.${i & 255}.1`);
    assert.equal(limiter.trackedAddresses, 100);
    assert.equal(limiter.retryAfterMs("192.0.2.1"), BLOCK_MS, "the blocked address was kept");
  });
});
