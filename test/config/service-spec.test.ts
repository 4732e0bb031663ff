import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseServiceSpec } from "../../src/config/service-spec.js";

describe("parseServiceSpec path prefixes", () => {
  it("accepts normalized prefixes", () => {
    for (const prefix of ["/", "/api", "/api/", "/a%2Fb", "/v1.2"]) {
      const spec = parseServiceSpec(`api:${prefix}=http://127.0.0.1:9000`);
      assert.ok(typeof spec !== "string", `${prefix}: ${typeof spec === "string" ? spec : ""}`);
      assert.equal(spec.pathPrefix, prefix);
    }
  });

  it("refuses a prefix no normalized request path could match, naming the one to write", () => {
    for (const [prefix, hint] of [
      ["/%61pi", /write "\/api"/],
      ["/a/../b", /write "\/b"/],
      ["//api", /write "\/api"/],
      ["/a%2fb", /write "\/a%2Fb"/],
      ["/a%zz", /not a valid path/],
      ["api", /must start with/],
    ] as const) {
      const spec = parseServiceSpec(`api:${prefix}=http://127.0.0.1:9000`);
      assert.equal(typeof spec, "string", prefix);
      assert.match(spec as string, hint);
    }
  });
});
