import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { ConfigError } from "../../src/config/config-error.js";
import { loadConfig } from "../../src/config/load-config.js";
import { clientSettings } from "../../src/config/client-settings.js";
import { serverSettings } from "../../src/config/server-settings.js";
import { cleanEnv, runCli } from "../helpers/run-cli.js";
import { tempDir } from "../helpers/temp-dir.js";

describe("loadConfig", () => {
  it("applies defaults when nothing is set", () => {
    const config = loadConfig(serverSettings, { env: {}, dotenvDir: null });
    assert.equal(config.domain, "localhost");
    assert.deepEqual(config.httpsListen, { host: "", port: 443 });
    assert.equal(config.proxyTimeoutSeconds, 60);
    assert.equal(config.dataDir, "./data");
    assert.equal(config.adminApiKey, undefined);
    assert.deepEqual(config.proxyDomains, []);
  });

  it("reads trusted proxies as canonical CIDR blocks, IPv4 and IPv6", () => {
    const env = { HOP_SERVER_TRUSTED_PROXIES: " 10.0.0.0/8, 2001:DB8::/32,127.0.0.1,::ffff:192.0.2.0/120" };
    const config = loadConfig(serverSettings, { env, dotenvDir: null });
    assert.deepEqual(config.trustedProxies, ["10.0.0.0/8", "2001:db8::/32", "127.0.0.1/32", "192.0.2.0/24"]);
    assert.equal(config.trustedProxyHeader, "x-forwarded-for", "X-Forwarded-For unless told otherwise");
  });

  it("reads which header the trusted proxies name the visitor in", () => {
    const env = { HOP_SERVER_TRUSTED_PROXY_HEADER: " Forwarded " };
    assert.equal(loadConfig(serverSettings, { env, dotenvDir: null }).trustedProxyHeader, "forwarded");
    const flags = { trustedProxyHeader: "x-forwarded-for" };
    assert.equal(
      loadConfig(serverSettings, { env, flags, dotenvDir: null }).trustedProxyHeader,
      "x-forwarded-for",
    );
  });

  it("lets the environment win over .env and flags win over both", async (t) => {
    const dir = await tempDir(t);
    await writeFile(
      join(dir, ".env"),
      "HOP_SERVER_PROXY_TIMEOUT_SECONDS=11\nHOP_SERVER_DOMAIN=dotenv.example.com\nHOP_LOG_LEVEL=warn\n",
    );
    const onlyDotenv = loadConfig(serverSettings, { env: {}, dotenvDir: dir });
    assert.equal(onlyDotenv.proxyTimeoutSeconds, 11);
    assert.equal(onlyDotenv.domain, "dotenv.example.com");

    const env = { HOP_SERVER_PROXY_TIMEOUT_SECONDS: "22", HOP_SERVER_DOMAIN: "env.example.com" };
    const envWins = loadConfig(serverSettings, { env, dotenvDir: dir });
    assert.equal(envWins.proxyTimeoutSeconds, 22);
    assert.equal(envWins.domain, "env.example.com");
    assert.equal(envWins.logLevel, "warn", ".env still fills what the environment leaves unset");

    const flagsWin = loadConfig(serverSettings, {
      env,
      dotenvDir: dir,
      flags: { proxyTimeoutSeconds: "33" },
    });
    assert.equal(flagsWin.proxyTimeoutSeconds, 33);
    assert.equal(flagsWin.domain, "env.example.com");
  });

  it("takes an advertise address as host:port (name, IPv4, bracketed IPv6); none by default", () => {
    assert.equal(loadConfig(serverSettings, { env: {}, dotenvDir: null }).advertiseAddr, undefined);
    for (const value of ["node-a.example.com:443", "10.0.0.1:8443", "[2001:db8::1]:443"]) {
      const env = { HOP_SERVER_ADVERTISE_ADDR: ` ${value} ` };
      assert.equal(loadConfig(serverSettings, { env, dotenvDir: null }).advertiseAddr, value);
    }
  });

  it("takes the worker liveness timeout as 0 (off) or 5 to 3600 seconds, 60 by default", () => {
    const timeout = (value?: string) =>
      loadConfig(serverSettings, {
        env: value === undefined ? {} : { HOP_SERVER_WORKER_LIVENESS_TIMEOUT_SECONDS: value },
        dotenvDir: null,
      }).workerLivenessTimeoutSeconds;
    assert.deepEqual([timeout(), timeout("0"), timeout("5"), timeout("3600")], [60, 0, 5, 3600]);
  });

  it("treats an empty value as unset", () => {
    const config = loadConfig(serverSettings, {
      env: { HOP_ADMIN_API_KEY: "", HOP_LOG_LEVEL: "" },
      dotenvDir: null,
    });
    assert.equal(config.adminApiKey, undefined);
    assert.equal(config.logLevel, "info");
  });

  const invalid: Array<[string, Record<string, string>, RegExp]> = [
    [
      "a non-numeric timeout",
      { HOP_SERVER_PROXY_TIMEOUT_SECONDS: "abc" },
      /^HOP_SERVER_PROXY_TIMEOUT_SECONDS="abc" is invalid .*: expected a whole number of seconds from 1 to 3600$/,
    ],
    [
      "a timeout out of range",
      { HOP_SERVER_PROXY_TIMEOUT_SECONDS: "0" },
      /HOP_SERVER_PROXY_TIMEOUT_SECONDS="0"/,
    ],
    [
      "a listen address without port",
      { HOP_SERVER_HTTPS_LISTEN: "localhost" },
      /HOP_SERVER_HTTPS_LISTEN="localhost" is invalid \(not a host:port address\)/,
    ],
    [
      "an unknown TLS mode",
      { HOP_SERVER_TLS: "letsencrypt" },
      /HOP_SERVER_TLS="letsencrypt".*expected self-signed, files or acme/,
    ],
    [
      "a worker liveness timeout below 5 s (a load stall could pass for a hang)",
      { HOP_SERVER_WORKER_LIVENESS_TIMEOUT_SECONDS: "3" },
      /^HOP_SERVER_WORKER_LIVENESS_TIMEOUT_SECONDS="3" is invalid \(below 5 s\): expected 0 \(off\) or a whole number of seconds from 5 to 3600$/,
    ],
    [
      "a negative worker liveness timeout",
      { HOP_SERVER_WORKER_LIVENESS_TIMEOUT_SECONDS: "-1" },
      /HOP_SERVER_WORKER_LIVENESS_TIMEOUT_SECONDS="-1" is invalid/,
    ],
    [
      "a worker liveness timeout above an hour",
      { HOP_SERVER_WORKER_LIVENESS_TIMEOUT_SECONDS: "3601" },
      /HOP_SERVER_WORKER_LIVENESS_TIMEOUT_SECONDS="3601" is invalid/,
    ],
    [
      "a non-postgres DSN",
      { HOP_DB_DSN: "mysql://u:hunter2@h/db" },
      /HOP_DB_DSN="mysql:\/\/u:\*\*\*\*@h\/db"/,
    ],
    [
      "a libpq keyword DSN, its password masked",
      { HOP_DB_DSN: "host=db password=hunter2 user=hop" },
      /HOP_DB_DSN="host=db password=\*\*\*\* user=hop" is invalid/,
    ],
    [
      "a wildcard proxy domain",
      { HOP_SERVER_PROXY_DOMAINS: "a.example.com,*.example.com" },
      /HOP_SERVER_PROXY_DOMAINS=.*wildcard/,
    ],
    ["a bad boolean", { HOP_SERVER_DEBUG: "maybe" }, /HOP_SERVER_DEBUG="maybe" is invalid \(not a boolean\)/],
    [
      "a trusted proxy that is no CIDR block",
      { HOP_SERVER_TRUSTED_PROXIES: "10.0.0.0/8,10.0.0.0/33" },
      /HOP_SERVER_TRUSTED_PROXIES=.*10\.0\.0\.0\/33: the prefix length must be a number from 0 to 32/,
    ],
    [
      "a trusted proxy header that is neither X-Forwarded-For nor Forwarded",
      { HOP_SERVER_TRUSTED_PROXY_HEADER: "x-real-ip" },
      /HOP_SERVER_TRUSTED_PROXY_HEADER="x-real-ip".*expected x-forwarded-for or forwarded/,
    ],
    [
      "a trusted proxy header naming both",
      { HOP_SERVER_TRUSTED_PROXY_HEADER: "x-forwarded-for,forwarded" },
      /HOP_SERVER_TRUSTED_PROXY_HEADER="x-forwarded-for,forwarded".*expected x-forwarded-for or forwarded/,
    ],
    [
      "a trusted proxy that is a host name",
      { HOP_SERVER_TRUSTED_PROXIES: "proxy.example.com" },
      /HOP_SERVER_TRUSTED_PROXIES=.*proxy\.example\.com is not an IPv4 or IPv6 address or block/,
    ],
    [
      "an advertise address without port",
      { HOP_SERVER_ADVERTISE_ADDR: "node-a.example.com" },
      /HOP_SERVER_ADVERTISE_ADDR=.*not a host:port address with a port from 1 to 65535/,
    ],
    [
      "an advertise address with port 0",
      { HOP_SERVER_ADVERTISE_ADDR: "node-a.example.com:0" },
      /HOP_SERVER_ADVERTISE_ADDR=.*not a host:port address with a port from 1 to 65535/,
    ],
    [
      "an advertise address with port 65536",
      { HOP_SERVER_ADVERTISE_ADDR: "10.0.0.1:65536" },
      /HOP_SERVER_ADVERTISE_ADDR=.*not a host:port address with a port from 1 to 65535/,
    ],
    [
      "an advertise address without host",
      { HOP_SERVER_ADVERTISE_ADDR: ":8443" },
      /HOP_SERVER_ADVERTISE_ADDR=.*not a host:port address with a port from 1 to 65535/,
    ],
    [
      "an advertise address with an unbracketed IPv6",
      { HOP_SERVER_ADVERTISE_ADDR: "::1:8443" },
      /HOP_SERVER_ADVERTISE_ADDR=.*not a host:port address with a port from 1 to 65535/,
    ],
    [
      "an advertise address with a bad name",
      { HOP_SERVER_ADVERTISE_ADDR: "node_a..example.com:443" },
      /HOP_SERVER_ADVERTISE_ADDR=.*not a host:port address with a port from 1 to 65535/,
    ],
  ];
  for (const [name, env, message] of invalid) {
    it(`rejects ${name} with one line naming the variable`, () => {
      assert.throws(
        () => loadConfig(serverSettings, { env, dotenvDir: null }),
        (error: unknown) =>
          error instanceof ConfigError && message.test(error.message) && !error.message.includes("\n"),
      );
    });
  }

  it("masks secrets in the message", () => {
    assert.throws(
      () => loadConfig(serverSettings, { env: { HOP_ADMIN_API_KEY: "hunter2" }, dotenvDir: null }),
      (error: unknown) =>
        error instanceof ConfigError && !error.message.includes("hunter2") && error.message.includes("****"),
    );
  });

  it("parses client services from repeated flags and a single local target", () => {
    const config = loadConfig(clientSettings, {
      env: { HOP_CLIENT_LOCAL_TARGET: "127.0.0.1:8080" },
      dotenvDir: null,
      flags: {
        serverAddr: "gw.example.com",
        domain: "App.Example.com.",
        apiKey: "k".repeat(64),
        services: ["api:/api=http://127.0.0.1:9000", "web=https://localhost:8443"],
      },
    });
    assert.equal(config.serverAddr, "https://gw.example.com");
    assert.equal(config.domain, "app.example.com");
    assert.equal(config.localTarget?.target.origin, "http://127.0.0.1:8080");
    assert.deepEqual(
      config.services.map((s) => [s.name, s.pathPrefix, s.target.origin]),
      [
        ["api", "/api", "http://127.0.0.1:9000"],
        ["web", "/", "https://localhost:8443"],
      ],
    );
  });
});

describe("the client's --domain", () => {
  const domainOf = (value: string) =>
    loadConfig(clientSettings, {
      env: {},
      dotenvDir: null,
      flags: { serverAddr: "gw.example.com", domain: value, apiKey: "k".repeat(64) },
    }).domain;

  it("takes auto (any case) for a label the server assigns, and a label under a wildcard as a name", () => {
    assert.equal(domainOf(" AUTO "), "auto");
    assert.equal(domainOf("Demo.Tunnel.Example.com"), "demo.tunnel.example.com");
  });

  it("refuses a wildcard: the client asks for one label or auto", () => {
    assert.throws(
      () => domainOf("*.tunnel.example.com"),
      /--domain="\*\.tunnel\.example\.com" is invalid \(a client serves one label under a wildcard domain \(demo\.tunnel\.example\.com\) or auto\)/,
    );
  });
});

describe("hopgate CLI configuration errors", () => {
  it("exits 2 with one line on stderr for an invalid value", async () => {
    const result = await runCli(["config", "server"], { env: cleanEnv({ HOP_SERVER_HTTPS_LISTEN: "nope" }) });
    assert.equal(result.code, 2);
    assert.equal(result.stderr.trim().split("\n").length, 1);
    assert.match(result.stderr, /^hopgate: HOP_SERVER_HTTPS_LISTEN="nope" is invalid/);
  });

  it("lets a flag override the environment", async () => {
    const result = await runCli(["config", "server", "--proxy-timeout-seconds", "7"], {
      env: cleanEnv({ HOP_SERVER_PROXY_TIMEOUT_SECONDS: "8" }),
    });
    assert.equal(result.code, 0, result.stderr);
    assert.equal((JSON.parse(result.stdout) as Record<string, unknown>).HOP_SERVER_PROXY_TIMEOUT_SECONDS, 7);
  });
});
