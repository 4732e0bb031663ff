import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { KeyedWaiters } from "../../src/lib/keyed-waiters.js";

describe("KeyedWaiters", () => {
  it("wakes the waiters of a key with true and forgets them", async () => {
    const waiters = new KeyedWaiters();
    const woken = [waiters.wait("a", 60_000), waiters.wait("a", 60_000)];
    const other = waiters.wait("b", 60_000);
    assert.equal(waiters.size, 3);
    waiters.wake("a");
    assert.deepEqual(await Promise.all(woken), [true, true]);
    assert.equal(waiters.size, 1);
    waiters.wake("b");
    assert.equal(await other, true);
    assert.equal(waiters.size, 0);
  });

  it("resolves false after the timeout", async () => {
    const waiters = new KeyedWaiters();
    assert.equal(await waiters.wait("a", 10), false);
    assert.equal(waiters.size, 0);
  });

  it("resolves false at once and keeps nothing when the signal aborts, or was aborted before", async () => {
    const waiters = new KeyedWaiters();
    const controller = new AbortController();
    const cancelled = waiters.wait("a", 60_000, controller.signal);
    const kept = waiters.wait("a", 60_000);
    assert.equal(waiters.size, 2);
    controller.abort();
    assert.equal(await cancelled, false);
    assert.equal(waiters.size, 1);
    assert.equal(await waiters.wait("a", 60_000, controller.signal), false);
    assert.equal(waiters.size, 1);
    waiters.wake("a");
    assert.equal(await kept, true);
    assert.equal(waiters.size, 0);
  });
});
