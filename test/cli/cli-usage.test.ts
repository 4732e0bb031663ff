import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { cleanEnv, CLI, runCli } from "../helpers/run-cli.js";

const root = join(import.meta.dirname, "../..");
const { version } = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string };

describe("hopgate command line", () => {
  it("prints the version, the Node.js version and the commit with --version, -v and `version`", async () => {
    for (const args of [["--version"], ["-v"], ["version"]]) {
      const result = await runCli(args);
      assert.equal(result.code, 0, result.stderr);
      assert.match(
        result.stdout,
        new RegExp(
          `^hopgate ${version.replaceAll(".", "\\.")} \\(commit [0-9a-f]{7,40}\\), Node\\.js ${process.versions.node}\\n$`,
        ),
        args.join(" "),
      );
    }
  });

  it("exits 2 for every usage error, after a subcommand too", async () => {
    for (const args of [
      ["--bogus"],
      ["bogus"],
      ["server", "--bogus"],
      ["client", "--bogus"],
      ["demo", "--bogus"],
      ["admin", "--bogus"],
      ["admin", "domains", "--bogus"],
      ["admin", "domains", "register"],
      ["config", "server", "--bogus"],
      ["config", "client", "--proxy-timeout-seconds", "5"],
      ["version", "extra"],
    ]) {
      const result = await runCli(args);
      assert.equal(result.code, 2, `hopgate ${args.join(" ")}: ${result.stderr}`);
      assert.notEqual(result.stderr, "", `hopgate ${args.join(" ")} says why`);
    }
  });

  it("shows each setting's default in --help", async () => {
    const server = await runCli(["server", "--help"]);
    assert.equal(server.code, 0);
    const help = server.stdout.replace(/\s+/g, " ");
    assert.match(
      help,
      /--proxy-timeout-seconds <value> [^[]*\(default: 60\) \[env HOP_SERVER_PROXY_TIMEOUT_SECONDS\]/,
    );
    assert.match(help, /--log-level <value> [^[]*\(default: info\) \[env HOP_LOG_LEVEL\]/);
    const demo = await runCli(["demo", "--help"]);
    assert.match(
      demo.stdout.replace(/\s+/g, " "),
      /--https-port <port> .*\(default: 8443, or a free port when it is taken\)/,
    );
    assert.match(demo.stdout, /\(default: "warn"\)/);
  });

  it("splits list flags on commas as their help says", async () => {
    const result = await runCli([
      "config",
      "server",
      "--proxy-domains",
      "a.example.com,b.example.com",
      "--proxy-domains",
      "c.example.com",
      "--acme-expect-ips",
      "192.0.2.1,2001:db8::1",
      "--loki-static-labels",
      "app=x,env=y",
    ]);
    assert.equal(result.code, 0, result.stderr);
    const shown = JSON.parse(result.stdout) as Record<string, unknown>;
    assert.deepEqual(shown.HOP_SERVER_PROXY_DOMAINS, ["a.example.com", "b.example.com", "c.example.com"]);
    assert.deepEqual(shown.HOP_ACME_EXPECT_IPS, ["192.0.2.1", "2001:db8::1"]);
    assert.deepEqual(shown.HOP_LOKI_STATIC_LABELS, { app: "x", env: "y" });
  });

  it("prints `config` by HOP_* name with the effective certificate source and only a DSN's password masked", async () => {
    const local = await runCli(
      [
        "config",
        "server",
        "--db-dsn",
        "postgres://hop:s3cret-pw@db.internal:5432/hopgate?sslmode=require&sslpassword=k3y-pw",
        "--loki-endpoint",
        "https://1234:l0ki-t0ken@logs.example.com/loki/api/v1/push",
      ],
      {
        env: cleanEnv({ HOP_ADMIN_API_KEY: "admin-key-0123456789abcdef" }),
      },
    );
    assert.equal(local.code, 0, local.stderr);
    for (const secret of ["s3cret-pw", "k3y-pw", "admin-key-0123", "l0ki-t0ken"])
      assert.ok(!local.stdout.includes(secret), secret);
    const shown = JSON.parse(local.stdout) as Record<string, unknown>;
    assert.ok(
      Object.keys(shown).every((key) => key.startsWith("HOP_")),
      Object.keys(shown).join(" "),
    );
    assert.equal(
      shown.HOP_DB_DSN,
      "postgres://hop:****@db.internal:5432/hopgate?sslmode=require&sslpassword=****",
    );
    assert.equal(shown.HOP_ADMIN_API_KEY, "****");
    assert.equal(shown.HOP_LOKI_ENDPOINT, "https://1234:****@logs.example.com/loki/api/v1/push");
    assert.equal(shown.HOP_SERVER_TLS, "self-signed", "unset on localhost: self-signed");
    const real = await runCli(["config", "server", "--domain", "tunnel.example.com"]);
    assert.equal((JSON.parse(real.stdout) as Record<string, unknown>).HOP_SERVER_TLS, "acme");
    const files = await runCli(["config", "server", "--domain", "tunnel.example.com", "--tls", "files"]);
    assert.equal((JSON.parse(files.stdout) as Record<string, unknown>).HOP_SERVER_TLS, "files");
    const client = await runCli([
      "config",
      "client",
      "--server",
      "tunnel.example.com",
      "--domain",
      "app.example.com",
      "--api-key",
      "client-key-0123456789",
      "--local-target",
      "8080",
    ]);
    assert.equal(client.code, 0, client.stderr);
    const clientShown = JSON.parse(client.stdout) as Record<string, unknown>;
    assert.equal(clientShown.HOP_CLIENT_LOCAL_TARGET, "http://127.0.0.1:8080/");
    const h2c = await runCli([
      ...["config", "client", "--server", "tunnel.example.com", "--domain", "app.example.com"],
      ...["--api-key", "client-key-0123456789", "--local-target", "h2c://127.0.0.1:50051"],
    ]);
    assert.equal(h2c.code, 0, h2c.stderr);
    assert.equal(
      (JSON.parse(h2c.stdout) as Record<string, unknown>).HOP_CLIENT_LOCAL_TARGET,
      "h2c://127.0.0.1:50051/",
    );
  });

  it("says in one line that Node.js 24 is required when run on an older Node.js", () => {
    // The machine's own Node.js (Debian's, which runs npm) is older than the Node.js 24 that npm
    // installs for the tests; CI has both.
    const old = spawnSync("/usr/bin/node", [CLI, "--version"], { encoding: "utf8", env: cleanEnv() });
    assert.equal(old.error, undefined, "Debian's /usr/bin/node is present");
    const major = Number(
      spawnSync("/usr/bin/node", ["-p", "process.versions.node"], { encoding: "utf8" }).stdout.split(".")[0],
    );
    assert.ok(major < 24, `/usr/bin/node is Node.js ${major}, not an older one`);
    assert.equal(old.status, 1);
    assert.equal(old.stdout, "");
    assert.match(
      old.stderr,
      /^hopgate: Node\.js 24 or newer is required \(this is Node\.js \d+\.\d+\.\d+\)\n$/,
    );
  });
});
