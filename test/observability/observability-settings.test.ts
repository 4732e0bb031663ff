import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { clientSettings } from "../../src/config/client-settings.js";
import { ConfigError } from "../../src/config/config-error.js";
import { loadConfig } from "../../src/config/load-config.js";
import { lokiOptionsFromConfig } from "../../src/config/logging-settings.js";
import { serverSettings } from "../../src/config/server-settings.js";
import { cleanEnv, runCli } from "../helpers/run-cli.js";

const CLIENT_REQUIRED = { HOP_CLIENT_SERVER_ADDR: "gw.example.com", HOP_CLIENT_DOMAIN: "app.example.com" };
const server = (env: Record<string, string>) => loadConfig(serverSettings, { env, dotenvDir: null });
const client = (env: Record<string, string>) =>
  loadConfig(clientSettings, {
    env: { ...CLIENT_REQUIRED, ...env },
    dotenvDir: null,
    flags: { apiKey: "k".repeat(64) },
  });

describe("observability settings", () => {
  const listens: Array<[string, string | undefined, { host: string; port: number } | null]> = [
    ["defaults to loopback port 9100", undefined, { host: "127.0.0.1", port: 9100 }],
    ["accepts :port for every interface", ":9200", { host: "", port: 9200 }],
    ["accepts an IPv6 address", "[::1]:9100", { host: "::1", port: 9100 }],
    ["turns off with off", "off", null],
    ["turns off with OFF", "OFF", null],
  ];
  for (const [name, raw, expected] of listens) {
    it(`HOP_METRICS_LISTEN ${name}`, () => {
      assert.deepEqual(server(raw === undefined ? {} : { HOP_METRICS_LISTEN: raw }).metricsListen, expected);
    });
  }

  it("rejects a bad HOP_METRICS_LISTEN with one line naming it", () => {
    assert.throws(
      () => server({ HOP_METRICS_LISTEN: "9100" }),
      (error: unknown) =>
        error instanceof ConfigError &&
        /^HOP_METRICS_LISTEN="9100" is invalid.*host:port, :port or off$/.test(error.message),
    );
  });

  it("keeps the client's metrics listener off unless HOP_CLIENT_METRICS_LISTEN is set", () => {
    assert.equal(client({}).metricsListen, null);
    assert.deepEqual(client({ HOP_CLIENT_METRICS_LISTEN: "127.0.0.1:0" }).metricsListen, {
      host: "127.0.0.1",
      port: 0,
    });
  });

  it("reads the original Loki variables for server and client alike", () => {
    const env = {
      HOP_LOKI_ENABLE: "true",
      HOP_LOKI_ENDPOINT: "http://loki:3100/loki/api/v1/push",
      HOP_LOKI_TENANT_ID: "team-a",
      HOP_LOKI_USERNAME: "hopgate",
      HOP_LOKI_PASSWORD: "pw-123",
      HOP_LOKI_STATIC_LABELS: "app=hop-gate, env=dev,region=eu-1",
    };
    for (const config of [server(env), client(env)]) {
      assert.deepEqual(lokiOptionsFromConfig(config, "hopgate-x"), {
        endpoint: "http://loki:3100/loki/api/v1/push",
        tenantId: "team-a",
        basicAuth: { username: "hopgate", password: "pw-123" },
        labels: { service: "hopgate-x", app: "hop-gate", env: "dev", region: "eu-1" },
      });
    }
    assert.equal(lokiOptionsFromConfig(server({ ...env, HOP_LOKI_ENABLE: "false" }), "s"), undefined);
  });

  const lokiErrors: Array<[string, Record<string, string>, RegExp]> = [
    ["a label without =", { HOP_LOKI_STATIC_LABELS: "app" }, /HOP_LOKI_STATIC_LABELS=.*not key=value/],
    ["a label name with a dash", { HOP_LOKI_STATIC_LABELS: "my-app=x" }, /HOP_LOKI_STATIC_LABELS=/],
    ["an endpoint that is not a URL", { HOP_LOKI_ENDPOINT: "loki:3100" }, /HOP_LOKI_ENDPOINT="loki:3100"/],
  ];
  for (const [name, env, message] of lokiErrors) {
    it(`rejects ${name}`, () => {
      assert.throws(
        () => server(env),
        (error: unknown) => error instanceof ConfigError && message.test(error.message),
      );
    });
  }

  it("refuses Loki push without an endpoint, or a password without a user", () => {
    assert.throws(
      () => lokiOptionsFromConfig(server({ HOP_LOKI_ENABLE: "1" }), "s"),
      /needs HOP_LOKI_ENDPOINT/,
    );
    const noUser = server({
      HOP_LOKI_ENABLE: "1",
      HOP_LOKI_ENDPOINT: "http://l:3100",
      HOP_LOKI_PASSWORD: "pw",
    });
    assert.throws(() => lokiOptionsFromConfig(noUser, "s"), /HOP_LOKI_USERNAME/);
  });

  it("masks HOP_LOKI_PASSWORD in `hopgate config server`", async () => {
    const result = await runCli(["config", "server"], {
      env: cleanEnv({ HOP_LOKI_PASSWORD: "visible-password-123", HOP_LOKI_STATIC_LABELS: "app=hopgate" }),
    });
    assert.equal(result.code, 0, result.stderr);
    assert.ok(!result.stdout.includes("visible-password-123"));
    const shown = JSON.parse(result.stdout) as Record<string, unknown>;
    assert.equal(shown.HOP_LOKI_PASSWORD, "****");
    assert.deepEqual(shown.HOP_LOKI_STATIC_LABELS, { app: "hopgate" });
    assert.deepEqual(shown.HOP_METRICS_LISTEN, { host: "127.0.0.1", port: 9100 });
  });
});
