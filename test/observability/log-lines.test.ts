import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { loadConfig } from "../../src/config/load-config.js";
import { serverSettings } from "../../src/config/server-settings.js";
import { accessLogFields, createAccessLog, MAX_LOGGED_PATH_CHARS } from "../../src/lib/access-log.js";
import { createLogging } from "../../src/lib/logging.js";
import { newRequestId, requestIdFrom } from "../../src/lib/request-id.js";

const CLIENT_KEY = "c".repeat(30) + "CLIENTKEY" + "c".repeat(25);
const ADMIN_KEY = "admin-key-that-must-never-be-logged";
const PASSWORD = "loki-password-that-must-never-be-logged";
const SECRETS = [CLIENT_KEY, ADMIN_KEY, PASSWORD];

function capturedLogging(level: "info" | "debug" = "debug") {
  const lines: string[] = [];
  const logging = createLogging({ level, destination: { write: (line) => void lines.push(line) } });
  return { lines, logger: logging.logger };
}

/** Every line is one JSON object with the fields issue 5 requires of every line. */
function assertWellFormed(lines: readonly string[]): Array<Record<string, unknown>> {
  return lines.map((line) => {
    assert.ok(line.endsWith("\n") && !line.slice(0, -1).includes("\n"), "one line per entry");
    const entry = JSON.parse(line) as Record<string, unknown>;
    assert.match(String(entry.ts), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, "ts is ISO 8601");
    assert.ok(["trace", "debug", "info", "warn", "error", "fatal"].includes(String(entry.level)));
    assert.equal(typeof entry.msg, "string");
    assert.equal(typeof entry.component, "string");
    return entry;
  });
}

describe("log lines", () => {
  it("are JSON with ts, level, msg and component, and never carry a key or password", () => {
    const { lines, logger } = capturedLogging();
    const tunnel = logger.child({ component: "tunnel" });
    const admin = logger.child({ component: "admin" });
    tunnel.info({ domain: "app.example.com", apiKey: CLIENT_KEY }, "handshake");
    tunnel.warn({ handshake: { clientApiKey: CLIENT_KEY, domain: "app.example.com" } }, "rejected");
    tunnel.debug(
      { headers: { "x-hopgate-api-key": CLIENT_KEY, authorization: `Bearer ${ADMIN_KEY}` } },
      "frame",
    );
    admin.info({ client_api_key: CLIENT_KEY }, "domain registered");
    admin.info({ config: { adminApiKey: ADMIN_KEY, lokiPassword: PASSWORD } }, "settings");
    admin.error({ loki: { password: PASSWORD }, authorization: ADMIN_KEY }, "odd payload");
    admin.info({ headers: { cookie: `session=${ADMIN_KEY}` } }, "request headers");
    const payload = { handshake: { apiKey: CLIENT_KEY } };
    tunnel.info(payload, "payload kept intact");
    logger.child({ component: "bound", apiKey: CLIENT_KEY }).info("bindings are censored too");

    const entries = assertWellFormed(lines);
    assert.equal(entries.length, 9);
    assert.equal(payload.handshake.apiKey, CLIENT_KEY, "the caller's object is not changed");
    assert.deepEqual(entries[7]!.handshake, { apiKey: "[redacted]" });
    assert.equal(entries[8]!.apiKey, "[redacted]");
    for (const line of lines) {
      for (const secret of SECRETS) assert.ok(!line.includes(secret), `a secret leaked into ${line}`);
    }
    assert.equal(entries[0]!.apiKey, "[redacted]");
    assert.equal(entries[0]!.domain, "app.example.com", "ordinary fields stay");
  });

  it("write the access line with the exact field names, query only when asked", () => {
    const { lines, logger } = capturedLogging("info");
    const entry = {
      requestId: "req-1",
      domain: "app.example.com",
      method: "GET",
      path: "/reports/2024",
      query: "token=abc&page=2",
      status: 200,
      durationMs: 12.34567,
      bytesIn: 0,
      bytesOut: 5120,
      remoteAddr: "203.0.113.9",
      sessionId: "s-42",
    };
    createAccessLog({ logger, includeQuery: false }).write(entry);
    createAccessLog({ logger, includeQuery: true }).write({ ...entry, sessionId: undefined });
    const [plain, withQuery] = assertWellFormed(lines);
    assert.deepEqual(plain, {
      level: "info",
      ts: plain!.ts,
      component: "access",
      request_id: "req-1",
      domain: "app.example.com",
      method: "GET",
      path: "/reports/2024",
      status: 200,
      duration_ms: 12.346,
      bytes_in: 0,
      bytes_out: 5120,
      remote_addr: "203.0.113.9",
      session_id: "s-42",
      msg: "request",
    });
    assert.ok(!lines[0]!.includes("token=abc"), "the query is left out by default");
    assert.equal(withQuery!.path, "/reports/2024?token=abc&page=2");
    assert.equal(withQuery!.session_id, null);
  });

  it("cut an overlong path so one visitor cannot write a huge line", () => {
    const fields = accessLogFields({
      requestId: "r",
      domain: "d.example.com",
      method: "GET",
      path: `/${"a".repeat(100_000)}`,
      status: 414,
      durationMs: 1,
      bytesIn: 0,
      bytesOut: 0,
      remoteAddr: "192.0.2.1",
    });
    assert.equal(fields.path.length, MAX_LOGGED_PATH_CHARS + 1);
  });

  it("follow HOP_LOG_QUERY from the configuration", () => {
    assert.equal(loadConfig(serverSettings, { env: {}, dotenvDir: null }).logQuery, false);
    assert.equal(
      loadConfig(serverSettings, { env: { HOP_LOG_QUERY: "true" }, dotenvDir: null }).logQuery,
      true,
    );
  });
});

describe("requestIdFrom", () => {
  const kept: Array<[string, string]> = [
    ["a UUID", "0b9c6a52-4a8e-4c1b-9d55-0f1c2a3b4c5d"],
    ["a W3C trace id", "4bf92f3577b34da6a3ce929d0e0e4736"],
    ["base64 with padding", "YWJjZA=="],
    ["the 128-character maximum", "x".repeat(128)],
    ["a composite id", "edge-1:req/42@eu+1"],
  ];
  for (const [name, value] of kept) {
    it(`keeps ${name} from a trusted upstream`, () => assert.equal(requestIdFrom(value, true), value));
    it(`replaces ${name} at the edge (upstream not trusted)`, () => {
      const id = requestIdFrom(value, false);
      assert.match(id, /^[A-Za-z0-9_-]{16}$/);
      assert.notEqual(id, value);
    });
  }
  const replaced: Array<[string, string | string[] | undefined]> = [
    ["a missing header", undefined],
    ["an empty value", ""],
    ["129 characters", "x".repeat(129)],
    ["spaces", "two words"],
    ["a quote that could break a log pipeline", 'id"injected'],
    ["a newline", "id\nforged: line"],
    ["non-ASCII", "идентификатор"],
    ["two header values", ["a", "b"]],
  ];
  for (const [name, value] of replaced) {
    it(`replaces ${name} with a new id`, () => {
      const id = requestIdFrom(value, true);
      assert.match(id, /^[A-Za-z0-9_-]{16}$/);
      assert.notEqual(id, value);
    });
  }
  it("keeps a single trusted value sent as a one-element list", () =>
    assert.equal(requestIdFrom(["abc"], true), "abc"));
  it("makes distinct ids", () => {
    const ids = new Set(Array.from({ length: 10_000 }, () => newRequestId()));
    assert.equal(ids.size, 10_000);
  });
});
