import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { decodeShortString } from "../../src/protocol/ascii-string-cache.js";

const decode = (text: string, padding = 0) => {
  const bytes = Buffer.concat([Buffer.alloc(padding, 0x2a), Buffer.from(text, "utf8"), Buffer.from("tail")]);
  const start = padding;
  return decodeShortString(bytes, start, start + Buffer.byteLength(text, "utf8"));
};

describe("decodeShortString", () => {
  it("decodes as UTF-8 whether or not the string was seen before", () => {
    const cases = [
      "",
      "GET",
      "content-type",
      "X-HopGate-Method",
      "é",
      "grüße",
      "a".repeat(64),
      "b".repeat(65),
    ];
    for (let round = 0; round < 3; round++)
      for (const text of cases) assert.equal(decode(text, round), text, JSON.stringify(text));
  });

  it("never returns another string that shares its hash slot or length", () => {
    // Far more distinct strings than slots, each seen several times: collisions and replaced
    // entries must still decode to exactly their own bytes.
    fc.assert(
      fc.property(fc.array(fc.string({ maxLength: 70 }), { minLength: 600, maxLength: 1200 }), (texts) => {
        for (let round = 0; round < 3; round++)
          for (const text of texts) if (decode(text) !== text) return false;
        return true;
      }),
      { numRuns: 20 },
    );
  });

  it("replaces invalid UTF-8 as TextDecoder does", () => {
    const bytes = Uint8Array.from([0x61, 0xff, 0x62]);
    assert.equal(decodeShortString(bytes, 0, 3), "a\uFFFDb");
    assert.equal(decodeShortString(bytes, 0, 1), "a");
  });
});
