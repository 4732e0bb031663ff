import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { normalizePath, normalizePathAndQuery } from "../../src/protocol/path-normalization.js";

function normalized(path: string): string {
  const result = normalizePath(path);
  assert.ok(result.ok, `${path}: ${result.ok ? "" : result.reason}`);
  return result.path;
}

const UNRESERVED = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~";
/** RFC 3986 pchar minus pct-encoded: unreserved, sub-delims, ":" and "@". */
const PCHAR = `${UNRESERVED}!$&'()*+,;=:@`;

/** Paths built from the pieces that matter: separators, dots, encodings of both kinds, letters. */
const pathPiece = fc.constantFrom(
  "/",
  "/",
  ".",
  "..",
  "a",
  "api",
  "x",
  "%2e",
  "%2E",
  "%2f",
  "%2F",
  "%61",
  "%7E",
  "%25",
  "%3f",
  "%5C",
  "%e2%82%ac",
  ";",
  "=",
  ":",
  "@",
  "~",
  "-",
);
const anyPath = fc.array(pathPiece, { maxLength: 24 }).map((pieces) => `/${pieces.join("")}`);

describe("normalizePath", () => {
  const table: Array<[string, string]> = [
    ["/", "/"],
    ["/api/x", "/api/x"],
    ["/api/../x", "/x"],
    ["/api/./x", "/api/x"],
    ["/a/b/..", "/a/"],
    ["/a/b/.", "/a/b/"],
    ["/a/b/../../..", "/"],
    ["/../x", "/x"],
    ["/..", "/"],
    ["/.", "/"],
    ["/...", "/..."],
    ["/a/..b/c", "/a/..b/c"],
    ["/%61pi/x", "/api/x"],
    ["/%41%5a%7e%2D%2e%5f", "/AZ~-._"],
    ["/api/%2e%2e/x", "/x"],
    ["/api/%2E./x", "/x"],
    ["/api%2F..%2Fx", "/api%2F..%2Fx"],
    ["/a%2fb", "/a%2Fb"],
    ["/a%3fb%23c%25", "/a%3Fb%23c%25"],
    ["/caf%c3%a9", "/caf%C3%A9"],
    ["//api//x", "/api/x"],
    ["/api//../x", "/x"],
    ["/a:b@c!$&'()*+,;=", "/a:b@c!$&'()*+,;="],
  ];
  for (const [input, output] of table) {
    it(`normalizes ${input} to ${output}`, () => assert.equal(normalized(input), output));
  }

  const refused: Array<[string, RegExp]> = [
    ["/a%", /two hex digits/],
    ["/a%2", /two hex digits/],
    ["/a%zz", /two hex digits/],
    ["/a%%41", /two hex digits/],
    ["/a%00b", /NUL/],
    ["/a b", /not a path character/],
    ["/a\\..\\b", /not a path character/],
    ["/a#b", /not a path character/],
    ["/caf\u00e9", /not a path character/],
    ["/a\u0000", /not a path character/],
    ["a/b", /start with/],
    ["", /start with/],
    ["*", /start with/],
  ];
  for (const [input, reason] of refused) {
    it(`refuses ${JSON.stringify(input)}`, () => {
      const result = normalizePath(input);
      assert.equal(result.ok, false);
      if (!result.ok) assert.match(result.reason, reason);
    });
  }

  it("keeps the query as sent and normalizes only the path", () => {
    assert.deepEqual(normalizePathAndQuery("/%61pi/../x?a=/../%61&b=%zz"), {
      ok: true,
      path: "/x?a=/../%61&b=%zz",
    });
    assert.deepEqual(normalizePathAndQuery("/a/.?"), { ok: true, path: "/a/?" });
    assert.equal(normalizePathAndQuery("/a%zz?q").ok, false);
  });

  it("is idempotent, and leaves no dot segment, no // and no encoded unreserved character", () => {
    fc.assert(
      fc.property(anyPath, (path) => {
        const once = normalizePath(path);
        if (!once.ok) return;
        assert.deepEqual(normalizePath(once.path), once, path);
        const segments = once.path.split("/");
        assert.ok(!segments.includes(".") && !segments.includes(".."), `${path} → ${once.path}`);
        assert.ok(!once.path.includes("//"), `${path} → ${once.path}`);
        assert.ok(
          !/%(?:[46][1-9A-F]|[57][0-9A]|3[0-9]|2D|2E|5F|7E)/i.test(once.path),
          `${path} → ${once.path}`,
        );
        assert.ok(!/%[0-9A-F]?[a-f]/.test(once.path), `uppercase hex: ${once.path}`);
      }),
      { numRuns: 2000 },
    );
  });

  it("means what it was given: decoding unreserved characters never changes a path's meaning", () => {
    // Any spelling of a path (each unreserved character written plainly or %-encoded in either
    // case) normalizes to the same path, and that path decodes to the same bytes as the original.
    const spelled = fc
      .array(
        fc.oneof(
          fc.constant("/"),
          fc.constantFrom(...PCHAR.split("")),
          fc.constantFrom("%2F", "%3F", "%23", "%25", "%20", "%C3%A9"),
        ),
        { maxLength: 30 },
      )
      .chain((pieces) =>
        fc.tuple(
          fc.constant(pieces),
          fc.array(fc.constantFrom("plain", "upper", "lower"), {
            minLength: pieces.length,
            maxLength: pieces.length,
          }),
        ),
      );
    fc.assert(
      fc.property(spelled, ([pieces, ways]) => {
        const plain = `/${pieces.join("")}`;
        const encoded = `/${pieces
          .map((piece, i) => {
            if (piece.length !== 1 || !UNRESERVED.includes(piece) || ways[i] === "plain") return piece;
            const hex = piece.charCodeAt(0).toString(16);
            return `%${ways[i] === "upper" ? hex.toUpperCase() : hex}`;
          })
          .join("")}`;
        const a = normalizePath(plain);
        const b = normalizePath(encoded);
        assert.ok(a.ok && b.ok);
        assert.equal(b.path, a.path, `${plain} vs ${encoded}`);
        const hasDotSegmentOrEmpty = plain
          .split("/")
          .some((s, i, all) => s === "." || s === ".." || (s === "" && i > 0 && i < all.length - 1));
        if (!hasDotSegmentOrEmpty) assert.equal(decodeURIComponent(a.path), decodeURIComponent(plain));
      }),
      { numRuns: 2000 },
    );
  });

  it("accepts a path exactly when every '%' starts a non-NUL two-hex-digit escape", () => {
    const withBadEscapes = fc
      .array(fc.oneof(pathPiece, fc.constantFrom("%", "%4", "%g0", "%0g", "%%", "%00")), { maxLength: 24 })
      .map((pieces) => `/${pieces.join("")}`);
    fc.assert(
      fc.property(withBadEscapes, (path) => {
        const wellFormed = !/%(?![0-9A-Fa-f]{2})/.test(path) && !/%00/.test(path);
        assert.equal(normalizePath(path).ok, wellFormed, path);
      }),
      { numRuns: 2000 },
    );
  });
});
