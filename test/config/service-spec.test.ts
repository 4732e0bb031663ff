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

describe("parseServiceSpec HTTP/2 services", () => {
  it("reads h2c:// and h2:// as HTTP/2 on an http: or https: origin, and nothing else as HTTP/2", () => {
    const cases: Array<[string, string, boolean]> = [
      ["grpc=h2c://127.0.0.1:50051", "http://127.0.0.1:50051", true],
      ["grpc=H2C://localhost:50051", "http://localhost:50051", true],
      ["grpc=h2://[::1]:8443", "https://[::1]:8443", true],
      ["web=http://127.0.0.1:8080", "http://127.0.0.1:8080", false],
      ["web=8080", "http://127.0.0.1:8080", false],
    ];
    for (const [input, origin, http2] of cases) {
      const spec = parseServiceSpec(input);
      assert.ok(typeof spec !== "string", `${input}: ${JSON.stringify(spec)}`);
      assert.equal(spec.target.origin, origin, input);
      assert.equal(spec.http2 === true, http2, input);
    }
  });

  it("refuses an h2c or h2 target with a path, credentials or a bad port, naming it as written", () => {
    for (const input of [
      "grpc=h2c://127.0.0.1:50051/x",
      "grpc=h2://user@host:1",
      "grpc=h2c://host:0",
      "grpc=h2c://",
    ]) {
      const spec = parseServiceSpec(input);
      assert.equal(typeof spec, "string", input);
      assert.doesNotMatch(spec as string, /"https?:\/\//, `${input}: ${JSON.stringify(spec)}`);
    }
  });
});
