import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { clientSettings } from "../../src/config/client-settings.js";
import { ConfigError } from "../../src/config/config-error.js";
import { domainPlanFromSettings } from "../../src/config/domain-plan.js";
import { loadConfig } from "../../src/config/load-config.js";
import { parseTarget } from "../../src/config/service-spec.js";

const REQUIRED = {
  HOP_CLIENT_SERVER_ADDR: "tunnel.example.com",
  HOP_CLIENT_DOMAIN: "app.example.com",
  HOP_CLIENT_API_KEY: "client-key-0123456789",
};

function settings(value: string) {
  return loadConfig(clientSettings, {
    env: { ...REQUIRED, HOP_CLIENT_LOCAL_TARGET: value },
    dotenvDir: null,
  });
}

function localTarget(value: string): URL | undefined {
  return settings(value).localTarget?.target;
}

describe("--local-target / HOP_CLIENT_LOCAL_TARGET", () => {
  it("reads a bare port as 127.0.0.1:PORT (it was http://0.0.31.144/ for 8080)", () => {
    assert.equal(localTarget("8080")?.href, "http://127.0.0.1:8080/");
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 65535 }), (port) => {
        const url = localTarget(String(port));
        assert.equal(url?.hostname, "127.0.0.1");
        assert.equal(url?.port === "" ? 80 : Number(url?.port), port);
      }),
    );
  });

  it("keeps host:port and http(s) origins", () => {
    assert.equal(localTarget("localhost:3000")?.href, "http://localhost:3000/");
    assert.equal(localTarget("[::1]:3000")?.href, "http://[::1]:3000/");
    assert.equal(localTarget("https://app.internal:8443")?.href, "https://app.internal:8443/");
    assert.equal(localTarget("http://10.0.0.5")?.href, "http://10.0.0.5/");
  });

  it('reads h2c:// and h2:// as --service does: the "web" service is then called over HTTP/2', () => {
    for (const [value, origin] of [
      ["h2c://127.0.0.1:50051", "http://127.0.0.1:50051"],
      ["H2C://localhost:50051", "http://localhost:50051"],
      ["h2://grpc.internal:8443", "https://grpc.internal:8443"],
    ] as const) {
      const config = settings(value);
      assert.deepEqual(
        { origin: config.localTarget?.target.origin, http2: config.localTarget?.http2 },
        { origin, http2: true },
        value,
      );
      const plan = domainPlanFromSettings(config);
      assert.deepEqual(plan.services, [
        { name: "web", pathPrefix: "/", target: new URL(origin), http2: true },
      ]);
    }
    assert.equal(settings("http://127.0.0.1:8080").localTarget?.http2, undefined, "http:// stays HTTP/1.1");
  });

  it("refuses at start-up anything that is not a port, host:port or http(s) origin", () => {
    for (const value of [
      "0",
      "65536",
      "localhost",
      "http://8080",
      "http://127.1:80",
      "http://0x7f000001",
      "ftp://host:21",
      "host:port",
      "http://host:3000/path",
      "http://user:pw@host:3000",
      "http://host:0",
      "h2c://host:0",
      "h2c://127.0.0.1:50051/path",
      "h3://host:443",
    ]) {
      assert.throws(() => localTarget(value), ConfigError, value);
      assert.throws(() => localTarget(value), /HOP_CLIENT_LOCAL_TARGET=/, value);
    }
  });

  it("never dials a host that was not written, or 127.0.0.1 for a bare port (property)", () => {
    const hostish = fc.stringMatching(/^[0-9a-zA-Z.x]{1,20}$/);
    const input = fc.oneof(
      hostish,
      fc.tuple(hostish, fc.integer({ min: 0, max: 70000 })).map(([host, port]) => `${host}:${port}`),
      fc
        .tuple(fc.constantFrom("http://", "https://"), hostish, fc.option(fc.integer({ min: 0, max: 70000 })))
        .map(([scheme, host, port]) => `${scheme}${host}${port === null ? "" : `:${port}`}`),
    );
    fc.assert(
      fc.property(input, (value) => {
        const target = parseTarget(value);
        if (typeof target === "string") return;
        assert.ok(target.protocol === "http:" || target.protocol === "https:");
        assert.equal(target.pathname, "/");
        if (/^\d+$/.test(value)) assert.equal(target.hostname, "127.0.0.1");
        else assert.ok(value.toLowerCase().includes(target.hostname), `${value} dials ${target.hostname}`);
      }),
      { numRuns: 2000 },
    );
  });
});
