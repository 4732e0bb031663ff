import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { describe, it } from "node:test";
import { loadConfig } from "../../src/config/load-config.js";
import { serverSettings } from "../../src/config/server-settings.js";
import { createLogger } from "../../src/lib/logger.js";
import { acmeSettings } from "../../src/server/certs/acme/acme-settings.js";

function capturingLogger() {
  const lines: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      callback();
    },
  });
  return { lines, logger: createLogger({ level: "info", destination }) };
}

const settingsFor = (env: Record<string, string>) => {
  const { lines, logger } = capturingLogger();
  const settings = acmeSettings(loadConfig(serverSettings, { env, dotenvDir: null }), logger);
  return { settings, lines };
};

describe("ACME settings", () => {
  const directories: Array<[string, Record<string, string>, string]> = [
    ["production by default", {}, "https://acme-v02.api.letsencrypt.org/directory"],
    [
      "staging on request",
      { HOP_ACME_USE_STAGING: "true" },
      "https://acme-staging-v02.api.letsencrypt.org/directory",
    ],
    [
      "HOP_ACME_CA_DIR over both",
      { HOP_ACME_CA_DIR: "https://ca.example.test/dir", HOP_ACME_USE_STAGING: "true" },
      "https://ca.example.test/dir",
    ],
  ];
  for (const [name, env, url] of directories) {
    it(`picks the directory: ${name}`, () => {
      assert.equal(settingsFor(env).settings.directoryUrl, url);
    });
  }

  it("takes the e-mail and the expected addresses", () => {
    const { settings } = settingsFor({
      HOP_ACME_EMAIL: "ops@example.test",
      HOP_ACME_EXPECT_IPS: "192.0.2.1, 2001:db8::1",
    });
    assert.equal(settings.email, "ops@example.test");
    assert.deepEqual(settings.expectedIps, ["192.0.2.1", "2001:db8::1"]);
    assert.throws(
      () =>
        loadConfig(serverSettings, { env: { HOP_ACME_EXPECT_IPS: "192.0.2.1,not-an-ip" }, dotenvDir: null }),
      /HOP_ACME_EXPECT_IPS=.*not an IP address/,
    );
  });

  it("warns once that HOP_ACME_CACHE_DIR is ignored, and only when it is set", () => {
    const set = settingsFor({ HOP_ACME_CACHE_DIR: "/var/lib/hopgate/acme" });
    assert.equal(set.lines.length, 1);
    assert.equal(set.lines[0]?.level, "warn");
    assert.match(String(set.lines[0]?.msg), /HOP_ACME_CACHE_DIR is ignored/);
    assert.deepEqual(settingsFor({}).lines, []);
  });
});
