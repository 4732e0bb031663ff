import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { adminSettings } from "../../src/config/admin-settings.js";
import { clientSettings } from "../../src/config/client-settings.js";
import { ConfigError } from "../../src/config/config-error.js";
import { loadConfig, loadConfigWithSources } from "../../src/config/load-config.js";
import { MAX_SECRET_FILE_BYTES } from "../../src/config/secret-file.js";
import { serverSettings } from "../../src/config/server-settings.js";
import { cleanEnv, runCli } from "../helpers/run-cli.js";
import { tempDir } from "../helpers/temp-dir.js";

const KEY = "file-admin-key-0123456789";

/** Asserts that `run` throws a ConfigError whose message matches every pattern and holds none of `hidden`. */
function assertConfigError(run: () => unknown, patterns: RegExp[], hidden: string[] = []): void {
  assert.throws(run, (error: unknown) => {
    assert.ok(error instanceof ConfigError, String(error));
    for (const pattern of patterns) assert.match(error.message, pattern);
    for (const text of hidden) assert.ok(!error.message.includes(text), `${text} in: ${error.message}`);
    return true;
  });
}

describe("secret settings' file forms (HOP_*_FILE, --*-file)", () => {
  it("reads the value from the file, removing one trailing LF or CRLF and nothing else", async (t) => {
    const dir = await tempDir(t);
    const cases = [
      { content: `${KEY}\n`, expected: KEY },
      { content: `${KEY}\r\n`, expected: KEY },
      { content: KEY, expected: KEY },
      // The second newline is part of the value: the schema (which trims the key) decides.
      { content: `${KEY}\n\n`, expected: KEY },
    ];
    for (const [index, { content, expected }] of cases.entries()) {
      const file = join(dir, `key-${index}`);
      await writeFile(file, content);
      const env = { HOP_ADMIN_API_KEY_FILE: file };
      assert.equal(
        loadConfig(serverSettings, { env, dotenvDir: null }).adminApiKey,
        expected,
        JSON.stringify(content),
      );
    }
  });

  it("keeps everything but the one trailing newline, as the schema then sees it", async (t) => {
    const file = join(await tempDir(t), "password");
    await writeFile(file, "  pass word \t\r\n\n");
    const env = { HOP_LOKI_PASSWORD_FILE: file };
    assert.equal(loadConfig(serverSettings, { env, dotenvDir: null }).lokiPassword, "  pass word \t\r\n");
  });

  it("takes the file flag, and the environment's and .env's file forms", async (t) => {
    const dir = await tempDir(t);
    const file = join(dir, "dsn");
    await writeFile(file, "postgres://hop:pw@db/hopgate\n");
    const fromFlag = loadConfig(serverSettings, { env: {}, flags: { "dbDsn:file": file }, dotenvDir: null });
    assert.equal(fromFlag.dbDsn, "postgres://hop:pw@db/hopgate");
    await writeFile(join(dir, ".env"), `HOP_DB_DSN_FILE=${file}\n`);
    const fromDotenv = loadConfigWithSources(serverSettings, { env: {}, dotenvDir: dir });
    assert.equal(fromDotenv.config.dbDsn, "postgres://hop:pw@db/hopgate");
    assert.deepEqual(fromDotenv.sources.dbDsn, { origin: ".env", file });
  });

  it("refuses the value and its file form given together, naming both", async (t) => {
    const file = join(await tempDir(t), "key");
    await writeFile(file, KEY);
    assertConfigError(
      () =>
        loadConfig(serverSettings, {
          env: { HOP_ADMIN_API_KEY: KEY, HOP_ADMIN_API_KEY_FILE: file },
          dotenvDir: null,
        }),
      [/HOP_ADMIN_API_KEY and HOP_ADMIN_API_KEY_FILE are both set/],
      [KEY],
    );
    assertConfigError(
      () =>
        loadConfig(serverSettings, {
          env: {},
          flags: { adminApiKey: KEY, "adminApiKey:file": file },
          dotenvDir: null,
        }),
      [/--admin-api-key and --admin-api-key-file are both set/],
      [KEY],
    );
  });

  it("lets a flag's file override an environment value, as flags override the environment", async (t) => {
    const file = join(await tempDir(t), "key");
    await writeFile(file, KEY);
    const loaded = loadConfigWithSources(serverSettings, {
      env: { HOP_ADMIN_API_KEY: "environment-key-0123456789" },
      flags: { "adminApiKey:file": file },
      dotenvDir: null,
    });
    assert.equal(loaded.config.adminApiKey, KEY);
    assert.deepEqual(loaded.sources.adminApiKey, { origin: "flag", file });
  });

  it("refuses a missing, unreadable, empty, oversized or non-regular file, naming setting and path", async (t) => {
    const dir = await tempDir(t);
    const empty = join(dir, "empty");
    await writeFile(empty, "");
    const newline = join(dir, "newline");
    await writeFile(newline, "\n");
    const big = join(dir, "big");
    await writeFile(big, "k".repeat(MAX_SECRET_FILE_BYTES + 1));
    // Under a regular file: unreadable for root too (a 0000 file is not, and CI runs as root).
    const underFile = join(empty, "key");
    const directory = join(dir, "directory");
    await mkdir(directory);
    const cases: Array<[string, RegExp]> = [
      [join(dir, "missing"), /cannot read .*missing \(ENOENT\)/],
      [empty, /empty is empty/],
      [newline, /newline is empty/],
      [big, /big is larger than 65536 bytes/],
      [directory, /directory is not a regular file|cannot read .*directory \(EISDIR\)/],
      [underFile, /cannot read .*empty\/key \(ENOTDIR\)/],
    ];
    for (const [file, reason] of cases) {
      assertConfigError(
        () => loadConfig(serverSettings, { env: { HOP_ADMIN_API_KEY_FILE: file }, dotenvDir: null }),
        [/^HOP_ADMIN_API_KEY_FILE: /, reason],
        [KEY],
      );
    }
    assertConfigError(
      () => loadConfig(serverSettings, { env: {}, flags: { "adminApiKey:file": empty }, dotenvDir: null }),
      [/^--admin-api-key-file: .*empty is empty/],
    );
  });

  it("validates the content as the value, and never prints it, not even masked", async (t) => {
    const dir = await tempDir(t);
    const shortKey = join(dir, "short");
    await writeFile(shortKey, "hunter2-secret\n");
    assertConfigError(
      () => loadConfig(serverSettings, { env: { HOP_ADMIN_API_KEY_FILE: shortKey }, dotenvDir: null }),
      [/^HOP_ADMIN_API_KEY_FILE: the content of .*short is invalid \(shorter than 16 characters\)/],
      ["hunter2", "hunt", "****"],
    );
    const badDsn = join(dir, "dsn");
    await writeFile(badDsn, "mysql://root:t0p-s3cret@db/x\n");
    assertConfigError(
      () => loadConfig(serverSettings, { env: { HOP_DB_DSN_FILE: badDsn }, dotenvDir: null }),
      [/^HOP_DB_DSN_FILE: the content of .*dsn is invalid \(not a postgres:\/\/ URL\)/],
      ["t0p-s3cret", "mysql", "root"],
    );
  });

  it("names the file forms when a required secret is missing", () => {
    assertConfigError(
      () =>
        loadConfig(adminSettings, { env: { HOP_ADMIN_URL: "https://hopgate.example.com" }, dotenvDir: null }),
      [
        /HOP_ADMIN_API_KEY \(or --admin-api-key, HOP_ADMIN_API_KEY_FILE or --admin-api-key-file\) is required/,
      ],
    );
  });

  it("gives only secret settings a file form", async (t) => {
    const dir = await tempDir(t);
    const domainFile = join(dir, "domain");
    const keyFile = join(dir, "api_key");
    await writeFile(domainFile, "from-file.example.com");
    await writeFile(keyFile, `${"k".repeat(64)}\n`);
    const config = loadConfig(clientSettings, {
      env: {
        HOP_CLIENT_DOMAIN_FILE: domainFile,
        HOP_CLIENT_DOMAIN: "app.example.com",
        HOP_CLIENT_API_KEY_FILE: keyFile,
      },
      dotenvDir: null,
      flags: { serverAddr: "gw.example.com", localTarget: "127.0.0.1:8080" },
    });
    assert.equal(config.domain, "app.example.com", "HOP_CLIENT_DOMAIN_FILE means nothing");
    assert.equal(config.apiKey, "k".repeat(64));
  });
});

describe("hopgate config with a secret file", () => {
  it("shows the masked value and the file it came from", async (t) => {
    const dir = await tempDir(t);
    const keyFile = join(dir, "admin_key");
    const dsnFile = join(dir, "dsn");
    await writeFile(keyFile, `${KEY}\n`);
    await writeFile(dsnFile, "postgres://hop:s3cret-pw@db.internal/hopgate\r\n");
    const result = await runCli(["config", "server", "--db-dsn-file", dsnFile], {
      env: cleanEnv({ HOP_ADMIN_API_KEY_FILE: keyFile }),
      cwd: dir,
    });
    assert.equal(result.code, 0, result.stderr);
    assert.ok(
      !result.stdout.includes(KEY.slice(0, 8)) && !result.stdout.includes("s3cret-pw"),
      result.stdout,
    );
    const shown = JSON.parse(result.stdout) as Record<string, unknown>;
    assert.equal(shown.HOP_ADMIN_API_KEY, `**** (from file ${keyFile})`);
    assert.equal(shown.HOP_DB_DSN, `postgres://hop:****@db.internal/hopgate (from file ${dsnFile})`);
  });

  it("exits 2 with one line naming both when the value and its file are given", async (t) => {
    const keyFile = join(await tempDir(t), "admin_key");
    await writeFile(keyFile, KEY);
    const result = await runCli([
      "config",
      "server",
      "--admin-api-key-file",
      keyFile,
      "--admin-api-key",
      KEY,
    ]);
    assert.equal(result.code, 2);
    assert.equal(result.stderr.trim().split("\n").length, 1);
    assert.match(result.stderr, /--admin-api-key and --admin-api-key-file are both set/);
  });

  it("refuses the client API key's file form next to --config, which declares the keys", async (t) => {
    const dir = await tempDir(t);
    const keyFile = join(dir, "api_key");
    await writeFile(keyFile, "k".repeat(64));
    const configFile = join(dir, "client.yaml");
    const [byFlag, byEnv] = await Promise.all([
      runCli(["client", "--config", configFile, "--api-key-file", keyFile]),
      runCli(["client", "--config", configFile], { env: cleanEnv({ HOP_CLIENT_API_KEY_FILE: keyFile }) }),
    ]);
    for (const result of [byFlag, byEnv]) {
      assert.equal(result.code, 2, result.stderr);
      assert.match(
        result.stderr,
        /--api-key-file \(HOP_CLIENT_API_KEY_FILE\) cannot be combined with the config file/,
      );
    }
  });
});
