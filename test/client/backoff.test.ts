import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Backoff } from "../../src/client/backoff.js";

describe("Backoff", () => {
  const bounds = (random: number) => {
    const backoff = new Backoff({
      initialMs: 1000,
      maxMs: 30_000,
      healthyAfterMs: 60_000,
      random: () => random,
    });
    return Array.from({ length: 8 }, () => backoff.next(0));
  };

  it("doubles from 1 s to 30 s, each delay drawn from the upper half of its step", () => {
    assert.deepEqual(bounds(0), [500, 1000, 2000, 4000, 8000, 15_000, 15_000, 15_000]);
    assert.deepEqual(bounds(1), [1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000]);
  });

  it("starts over after a connection that stayed up for a healthy minute", () => {
    const backoff = new Backoff({ initialMs: 1000, maxMs: 30_000, healthyAfterMs: 60_000, random: () => 1 });
    for (let i = 0; i < 6; i++) backoff.next(5_000);
    assert.equal(backoff.next(5_000), 30_000, "short-lived connections keep the delay high");
    assert.equal(backoff.next(60_000), 1000, "a healthy minute resets it");
  });
});
