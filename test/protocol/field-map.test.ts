import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { emptyFieldMap } from "../../src/protocol/wire-headers.js";

/** Names a visitor, backend or peer may send that an ordinary object would resolve to its members. */
const OBJECT_MEMBERS = Object.getOwnPropertyNames(Object.prototype);
const name = fc.oneof(fc.constantFrom(...OBJECT_MEMBERS), fc.string({ maxLength: 12 }));

describe("emptyFieldMap", () => {
  it("holds exactly the names set in it, Object's member names included, and inherits none", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(name, fc.string()), { maxLength: 20 }), (entries) => {
        const map = emptyFieldMap<string>();
        const model = new Map<string, string>();
        for (const [key, value] of entries) {
          map[key] = value;
          model.set(key, value);
        }
        assert.deepEqual(new Set(Object.keys(map)), new Set(model.keys()));
        const walked: string[] = [];
        for (const key in map) walked.push(key);
        assert.deepEqual(new Set(walked), new Set(model.keys()));
        for (const [key, value] of model) assert.equal(map[key], value);
        for (const member of OBJECT_MEMBERS) {
          if (!model.has(member)) {
            assert.equal(map[member], undefined, member);
            assert.equal(member in map, false, member);
          }
        }
      }),
      { numRuns: 500 },
    );
  });
});
