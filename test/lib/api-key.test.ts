import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { apiKeyMatchesDigest, digestApiKey, generateApiKey, secretsEqual } from "../../src/lib/api-key.js";

describe("api-key", () => {
  it("generates 64 lowercase hex characters, different every time", () => {
    const keys = new Set(Array.from({ length: 100 }, generateApiKey));
    assert.equal(keys.size, 100);
    for (const key of keys) assert.match(key, /^[0-9a-f]{64}$/);
  });

  it("digests with SHA-256 (FIPS 180-2 test vector)", () => {
    assert.equal(digestApiKey("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  });

  it("matches a key against its digest only", () => {
    const key = generateApiKey();
    const digest = digestApiKey(key);
    assert.equal(apiKeyMatchesDigest(key, digest), true);
    assert.equal(apiKeyMatchesDigest(generateApiKey(), digest), false);
    assert.equal(apiKeyMatchesDigest(digest, digest), false, "the digest is not a key");
    for (const broken of ["", "zz", digest.slice(0, 62), "z".repeat(64), `${digest}00`])
      assert.equal(apiKeyMatchesDigest(key, broken), false);
  });

  it("compares secrets of any lengths", () => {
    assert.equal(secretsEqual("admin-key-0123456789", "admin-key-0123456789"), true);
    assert.equal(secretsEqual("admin-key-0123456789", "admin-key-012345678"), false);
    assert.equal(secretsEqual("", "admin-key"), false);
  });

  it("compares secrets whose byte lengths differ without throwing (both sides are hashed to 32 bytes)", () => {
    // timingSafeEqual throws on buffers of different lengths: these pass only because of the hashing.
    const cases: Array<[string, string, boolean]> = [
      ["\u00e9", "e\u0301", false], // one character each, 2 and 3 bytes in UTF-8
      ["\u00e9\u00e9", "\u00e9\u00e9", true],
      ["k".repeat(1 << 20), `${"k".repeat(1 << 20)}!`, false],
      ["k".repeat(1 << 20), "k".repeat(1 << 20), true],
      ["", "", true],
    ];
    for (const [given, expected, equal] of cases)
      assert.equal(secretsEqual(given, expected), equal, `${given.length} vs ${expected.length} characters`);
  });
});
