import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { loadConfig } from "../../src/config/load-config.js";
import { serverSettings } from "../../src/config/server-settings.js";
import { silentLogger } from "../../src/lib/logger.js";
import { acmeSettings } from "../../src/server/certs/acme/acme-settings.js";
import { cleanEnv, runCli } from "../helpers/run-cli.js";
import { tempDir } from "../helpers/temp-dir.js";
import { tlsFixture } from "../helpers/tls-fixture.js";

/** Every command that trusts an extra CA, with the CA file given by its own setting. */
const COMMANDS: Array<[string, string, (caFile: string) => string[]]> = [
  [
    "hopgate client",
    "HOP_CLIENT_CA_FILE",
    (caFile) => [
      "client",
      ...["--server", "https://127.0.0.1:9", "--domain", "app.example.test", "--api-key", "k".repeat(32)],
      ...["--service", "web=http://127.0.0.1:9", "--ca-file", caFile],
    ],
  ],
  [
    "hopgate admin",
    "HOP_ADMIN_CA_FILE",
    (caFile) => [
      "admin",
      ...["--server-url", "https://127.0.0.1:9", "--admin-api-key", "a".repeat(32)],
      ...["domains", "list", "--ca-file", caFile],
    ],
  ],
];

describe("CA files", () => {
  for (const [command, setting, args] of COMMANDS) {
    it(`${command} exits 2 naming ${setting}, its flag and the path when the file cannot be read`, async (t) => {
      const missing = join(await tempDir(t), "missing.pem");
      const result = await runCli(args(missing), { env: cleanEnv(), timeoutMs: 60_000 });
      assert.equal(result.code, 2, result.stderr);
      assert.match(
        result.stderr,
        new RegExp(`${setting} \\(--ca-file\\) "${missing}" cannot be read: ENOENT`),
      );
    });
  }

  it("HOP_ACME_DIRECTORY_CA_FILE is read into the ACME settings, or refused naming the setting", async (t) => {
    const dir = await tempDir(t);
    const caFile = join(dir, "ca.pem");
    await writeFile(caFile, tlsFixture().cert);
    const settingsWith = (path: string) =>
      acmeSettings(
        loadConfig(serverSettings, { env: { HOP_ACME_DIRECTORY_CA_FILE: path }, dotenvDir: null }),
        silentLogger(),
      );
    assert.equal(settingsWith(caFile).directoryCaPem, tlsFixture().cert);
    const missing = join(dir, "missing.pem");
    assert.throws(
      () => settingsWith(missing),
      (error: Error) =>
        error.message.startsWith(
          `HOP_ACME_DIRECTORY_CA_FILE (--acme-directory-ca-file) "${missing}" cannot be read: ENOENT`,
        ),
    );
  });
});
