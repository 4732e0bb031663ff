import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  AMBIGUOUS_PATH_FORMS,
  isAmbiguousPath,
  type AmbiguousPathForm,
} from "../../src/protocol/ambiguous-path.js";
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

  it("lets through exactly the forms allowed, each occurrence counted as one form", () => {
    const cases: Array<[AmbiguousPathForm[], string, boolean]> = [
      [["encoded_slash"], "/group%2Fproject", false],
      [["encoded_slash"], "/group%2fproject/files/a%2Fb", false],
      [["encoded_slash"], "/a%5Cb", true],
      [["encoded_slash"], "/a%252Fb", true],
      [["encoded_slash"], "/a%25%2Fb", false],
      [["encoded_slash"], "/a;b", true],
      [["encoded_backslash"], "/a%5cb", false],
      [["encoded_backslash"], "/a%255Cb", true],
      [["double_encoded"], "/a%252Fb/%252e%252e/%25255C", false],
      [["double_encoded"], "/a%2Fb", true],
      [["double_encoded"], "/a%5Cb", true],
      [["semicolon"], "/app;jsessionid=1", false],
      [["semicolon"], "/app;x%2F", true],
      [["encoded_slash", "semicolon"], "/a%2F;b", false],
      [["encoded_slash", "semicolon"], "/a%2F;b%5C", true],
      [[...AMBIGUOUS_PATH_FORMS], "/a%2F%5C%252F%252E;b", false],
      [["semicolon"], "/100%25/%25zz", false],
    ];
    for (const [forms, path, ambiguous] of cases)
      assert.equal(isAmbiguousPath(path, new Set(forms)), ambiguous, `${path} allowing ${forms.join()}`);
  });

  it("allowing forms refuses what the default refuses once the allowed occurrences are taken out (differential)", () => {
    // A reference built on the default predicate alone: replace every occurrence of an allowed
    // form by a plain letter (a `%252F` holds no `%2F`, so the order does not matter).
    const OCCURRENCE: Record<AmbiguousPathForm, RegExp> = {
      double_encoded: /%(?:25)+(?:2F|5C|2E)/gi,
      encoded_slash: /%2F/gi,
      encoded_backslash: /%5C/gi,
      semicolon: /;/g,
    };
    const without = (path: string, allowed: ReadonlySet<AmbiguousPathForm>) => {
      let rest = path;
      for (const form of AMBIGUOUS_PATH_FORMS)
        if (allowed.has(form)) rest = rest.replace(OCCURRENCE[form], "x");
      return rest;
    };
    const forms = fc.subarray([...AMBIGUOUS_PATH_FORMS]);
    fc.assert(
      fc.property(encodedPath, forms, (path, allowedForms) => {
        const normalized = normalizePath(path);
        if (!normalized.ok) return;
        const allowed = new Set(allowedForms);
        const reference = isAmbiguousPath(without(normalized.path, allowed));
        assert.equal(
          isAmbiguousPath(normalized.path, allowed),
          reference,
          `${normalized.path} allowing ${allowedForms.join()}`,
        );
        // More forms allowed never refuses more.
        for (const form of AMBIGUOUS_PATH_FORMS)
          if (!isAmbiguousPath(normalized.path, allowed))
            assert.equal(isAmbiguousPath(normalized.path, new Set([...allowed, form])), false);
      }),
      { numRuns: 3000 },
    );
  });
});
