import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { createFloodRecovery } from "../../src/server/limits/flood-recovery.js";

const QUIET_MS = 50;
/** Wide against a busy machine: the timer fires QUIET_MS after the last close. */
const SETTLE_MS = 500;

/** A recovery with small figures that counts its collections, and `count` connections it tracks. */
function setUp(count: number) {
  let collections = 0;
  const recovery = createFloodRecovery({
    minClosed: 10,
    quietMs: QUIET_MS,
    collect: () => {
      collections++;
      return true;
    },
  });
  const open = (n: number) =>
    Array.from({ length: n }, () => {
      const connection = new EventEmitter();
      recovery.track(connection);
      return connection;
    });
  return { recovery, connections: open(count), open, collections: () => collections };
}

describe("createFloodRecovery", () => {
  it("collects once, after a quiet period, when a flood of connections has closed", async () => {
    const { recovery, connections, collections } = setUp(100);
    try {
      for (const connection of connections) connection.emit("close");
      assert.equal(collections(), 0, "not while the connections are still closing");
      await sleep(SETTLE_MS);
      assert.equal(collections(), 1);
      await sleep(SETTLE_MS);
      assert.equal(collections(), 1, "once per flood, not periodically");
    } finally {
      recovery.stop();
    }
  });

  it("does not collect while connections come and go at a steady count", async () => {
    const { recovery, connections, open, collections } = setUp(20);
    try {
      for (const connection of connections) {
        connection.emit("close");
        open(1);
      }
      await sleep(SETTLE_MS);
      assert.equal(collections(), 0);
    } finally {
      recovery.stop();
    }
  });

  it("collects again after a second flood, counted from the open connections left", async () => {
    const { recovery, connections, open, collections } = setUp(50);
    try {
      for (const connection of connections.slice(0, 45)) connection.emit("close");
      await sleep(SETTLE_MS);
      assert.equal(collections(), 1);
      // 5 left open: 5 more closing is no flood, 30 more opened and closed is one.
      for (const connection of connections.slice(45)) connection.emit("close");
      await sleep(SETTLE_MS);
      assert.equal(collections(), 1);
      for (const connection of open(30)) connection.emit("close");
      await sleep(SETTLE_MS);
      assert.equal(collections(), 2);
    } finally {
      recovery.stop();
    }
  });
});
