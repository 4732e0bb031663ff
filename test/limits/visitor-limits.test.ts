import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ConnectionCounter } from "../../src/server/limits/connection-counter.js";
import { RequestRateLimiter } from "../../src/server/limits/request-rate-limiter.js";

describe("ConnectionCounter", () => {
  it("admits up to the limit per key and forgets keys without open connections", () => {
    const counter = new ConnectionCounter(2);
    assert.deepEqual(
      [counter.opened("a"), counter.opened("a"), counter.opened("a"), counter.opened("b")],
      [true, true, false, true],
    );
    counter.closed("a");
    counter.closed("a");
    assert.equal(counter.opened("a"), true, "below the limit again");
    counter.closed("a");
    counter.closed("a");
    counter.closed("b");
    assert.equal(counter.size, 0);
  });
});

describe("RequestRateLimiter", () => {
  const clock = () => {
    let nowMs = 0;
    return { now: () => nowMs, advance: (ms: number) => (nowMs += ms) };
  };

  it("admits a burst, then one request per 1/rate seconds, with the wait as Retry-After", () => {
    const time = clock();
    const limiter = new RequestRateLimiter({ ratePerSecond: 2, burst: 3, now: time.now });
    const burst = [1, 2, 3, 4].map(() => limiter.take("a").ok);
    assert.deepEqual(burst, [true, true, true, false]);
    assert.deepEqual(limiter.take("a"), { ok: false, retryAfterSeconds: 1 });
    assert.equal(limiter.take("b").ok, true, "keys are independent");
    time.advance(500);
    assert.equal(limiter.take("a").ok, true);
    assert.equal(limiter.take("a").ok, false);
  });

  it("rounds Retry-After up to whole seconds for slow rates", () => {
    const limiter = new RequestRateLimiter({ ratePerSecond: 0.1, burst: 1, now: clock().now });
    limiter.take("a");
    assert.deepEqual(limiter.take("a"), { ok: false, retryAfterSeconds: 10 });
  });

  it("forgets keys whose bucket has refilled, so idle addresses cost no memory", () => {
    const time = clock();
    const limiter = new RequestRateLimiter({ ratePerSecond: 1, burst: 10, now: time.now });
    for (let i = 0; i < 1000; i += 1) limiter.take(`idle-${i}`);
    time.advance(500);
    for (let i = 0; i < 6; i += 1) limiter.take("busy");
    limiter.sweep();
    assert.equal(limiter.size, 1001, "nobody has refilled after 0.5 s");
    time.advance(600); // the idle keys took one token 1.1 s ago
    limiter.sweep();
    assert.equal(limiter.size, 1, "only the busy key is still below its burst");
    time.advance(6000);
    limiter.sweep();
    assert.equal(limiter.size, 0);
  });

  it("holds at most maxKeys keys, forgetting the least recently seen", () => {
    const limiter = new RequestRateLimiter({ ratePerSecond: 1, burst: 1, maxKeys: 100, now: clock().now });
    limiter.take("first");
    for (let i = 0; i < 500; i += 1) limiter.take(`flood-${i}`);
    assert.equal(limiter.size, 100);
    assert.equal(limiter.take("first").ok, true, "the forgotten key starts with a full bucket");
  });
});
