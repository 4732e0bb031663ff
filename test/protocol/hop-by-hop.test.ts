import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { endToEndFields, hopByHopNames } from "../../src/protocol/hop-by-hop.js";

const ALWAYS = [
  "connection",
  "keep-alive",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
];

describe("hopByHopNames", () => {
  for (const { connection, extra } of [
    { connection: [], extra: [] },
    { connection: ["keep-alive"], extra: [] },
    { connection: ["Keep-Alive, Upgrade"], extra: [] },
    { connection: ["close"], extra: ["close"] },
    { connection: ["X-Secret , keep-alive", "x-other,,x-secret"], extra: ["x-secret", "x-other"] },
  ]) {
    it(`names the fixed fields${extra.length ? ` and ${extra.join(", ")}` : ""} for Connection: ${JSON.stringify(connection)}`, () => {
      const names = hopByHopNames(connection);
      for (const name of [...ALWAYS, ...extra]) assert.ok(names.has(name), name);
      assert.equal(names.size, hopByHopNames([]).size + extra.length);
      assert.ok(!names.has("content-type"));
    });
  }

  it("never lets Connection remove a message's framing or routing fields", () => {
    const names = hopByHopNames(["content-length, Host, x-secret"]);
    assert.ok(!names.has("content-length"));
    assert.ok(!names.has("host"));
    assert.ok(names.has("x-secret"));
  });

  it("adds nothing to the shared set for later calls", () => {
    const before = hopByHopNames([]).size;
    hopByHopNames(["x-one"]);
    assert.equal(hopByHopNames(["keep-alive"]).size, before);
    assert.ok(!hopByHopNames([]).has("x-one"));
  });
});

describe("endToEndFields", () => {
  it("keeps repeated fields in order under lowercased names, without hop-by-hop ones or what skip refuses", () => {
    const fields = endToEndFields(
      [
        "Connection",
        "X-Secret, Content-Length",
        "Accept",
        "a",
        "X-Secret",
        "s",
        "ACCEPT",
        "b",
        "Keep-Alive",
        "timeout=5",
        "Content-Length",
        "3",
        "X-Skipped",
        "v",
        "__proto__",
        "p",
      ],
      (name) => name === "x-skipped",
    );
    assert.deepEqual(Object.entries(fields), [
      ["accept", ["a", "b"]],
      ["content-length", ["3"]],
      ["__proto__", ["p"]],
    ]);
  });
});
