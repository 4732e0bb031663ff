import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createStoreChangeRouter } from "../../src/server/cluster/store-change-router.js";
import type { StoreChangeCause, StoreTopic } from "../../src/server/cluster/store-changes.js";

describe("createStoreChangeRouter", () => {
  const cases: Array<{ what: string; before: StoreChangeCause[]; delivered: StoreChangeCause[] }> = [
    { what: "delivers nothing when no signal came before", before: [], delivered: [] },
    {
      what: "delivers a signal that came before, once",
      before: ["changed", "changed"],
      delivered: ["changed"],
    },
    {
      what: "a later change does not downgrade a kept resync",
      before: ["resync", "changed"],
      delivered: ["resync"],
    },
    { what: "a resync after a change is kept", before: ["changed", "resync"], delivered: ["resync"] },
  ];
  for (const c of cases)
    it(c.what, () => {
      const router = createStoreChangeRouter();
      for (const cause of c.before) router.onChange("certificates", cause);
      const seen: StoreChangeCause[] = [];
      router.attach("certificates", (cause) => seen.push(cause));
      assert.deepEqual(seen, c.delivered);
    });

  it("hands later signals straight to the attached topic only", () => {
    const router = createStoreChangeRouter();
    const seen: Array<[StoreTopic, StoreChangeCause]> = [];
    router.attach("domains", (cause) => seen.push(["domains", cause]));
    router.onChange("domains", "changed");
    router.onChange("certificates", "changed");
    assert.deepEqual(seen, [["domains", "changed"]]);
    router.attach("certificates", (cause) => seen.push(["certificates", cause]));
    assert.deepEqual(seen, [
      ["domains", "changed"],
      ["certificates", "changed"],
    ]);
  });
});
