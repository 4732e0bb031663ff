import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createGcPacer } from "../../src/lib/gc-pacer.js";

describe("createGcPacer", () => {
  it("runs one young-generation GC per `everyBytes` moved", () => {
    const calls: unknown[] = [];
    const pacer = createGcPacer((options) => calls.push(options), 100);
    for (let i = 0; i < 25; i++) pacer.moved(10);
    assert.deepEqual(calls, [{ type: "minor" }, { type: "minor" }]);
  });

  it("does nothing when gc is not exposed", () => {
    assert.doesNotThrow(() => createGcPacer(null, 1).moved(10));
  });
});
