import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { isAmbiguousPath } from "../../src/protocol/ambiguous-path.js";
import { normalizePath } from "../../src/protocol/path-normalization.js";
import { backendReadings, isUnder } from "../helpers/backend-path-readings.js";
import { encodedPath } from "../helpers/encoded-paths.js";

describe("isAmbiguousPath", () => {
  it("flags encoded separators, double-encoded dots and path parameters, and nothing else", () => {
    const cases: Array<[string, boolean]> = [
      ["/admin/secret", false],
      ["/admin%2Fsecret", true],
      ["/admin%2fsecret", true],
      ["/admin%252Fsecret", true],
      ["/admin%25252fsecret", true],
      ["/admin%5Csecret", true],
      ["/admin%255csecret", true],
      ["/x/%252E%252E/admin", true],
      ["/admin;x/secret", true],
      ["/admin;jsessionid=1", true],
      ["/a%20b/%C3%A9", false],
      ["/100%25", false],
      ["/%25zz", false],
      ["/files/a%2Eb", false],
    ];
    for (const [path, ambiguous] of cases) assert.equal(isAmbiguousPath(path), ambiguous, path);
  });

  it("flags every normalized path that some backend reads under a prefix the gateway does not (differential)", () => {
    fc.assert(
      fc.property(encodedPath, (path) => {
        const normalized = normalizePath(path);
        if (!normalized.ok) return;
        const readings = backendReadings(normalized.path);
        for (const prefix of ["/admin", "/admin/secret"]) {
          const differs = readings.some(
            (reading) => isUnder(prefix, reading) !== isUnder(prefix, normalized.path),
          );
          if (differs)
            assert.ok(
              isAmbiguousPath(normalized.path),
              `${path} → ${normalized.path}: ${readings.join(" ")}`,
            );
        }
      }),
      { numRuns: 3000 },
    );
  });
});
