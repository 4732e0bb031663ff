import assert from "node:assert/strict";
import { before, beforeEach, describe, it } from "node:test";
import { silentLogger } from "../../src/lib/logger.js";
import { createAdminApi } from "../../src/server/admin/admin-api.js";
import type { Database } from "../../src/server/store/database.js";
import { createDomainRepository, type DomainRepository } from "../../src/server/store/domain-repository.js";
import type { SessionDirectory, SessionInfo } from "../../src/server/tunnel/session-directory.js";
import { adminCaller } from "../helpers/admin-client.js";
import { startPlainAdminListener } from "../helpers/admin-server.js";
import type { TestResponse } from "../helpers/http-request.js";
import { sendRequest } from "../helpers/http-request.js";
import { openTestDatabase, storeBackends, suiteCleanup } from "../helpers/store-backends.js";

const ADMIN_KEY = "test-admin-key-0123456789";
const MAIN_DOMAIN = "hopgate.example.com";
const HEX64 = /^[0-9a-f]{64}$/;

type ErrorJson = { success: false; error: { code: string; message: string } };

function assertError(response: TestResponse, status: number, code: string, message?: RegExp): ErrorJson {
  assert.equal(response.status, status, response.text);
  assert.match(String(response.headers["content-type"]), /^application\/json/);
  const body = response.json<ErrorJson>();
  assert.equal(body.success, false);
  assert.equal(body.error.code, code);
  if (message) assert.match(body.error.message, message);
  return body;
}

const liveSession: SessionInfo = {
  id: "s-1",
  domain: "live.example.com",
  remoteAddress: "203.0.113.7:50000",
  protocolVersion: 1,
  services: [{ name: "web", pathPrefix: "/" }],
  connectedAt: "2026-01-01T00:00:00.000Z",
  state: "active",
  inFlightStreams: 2,
  bytesToClient: 10,
  bytesFromClient: 20,
};
const sessions: SessionDirectory = {
  list: (filter) => [liveSession].filter((s) => filter?.domain === undefined || s.domain === filter.domain),
  closeDomain: () => 0,
};

for (const backend of storeBackends) {
  describe(`admin API over HTTP on ${backend.name}`, { skip: backend.skip }, () => {
    const cleanup = suiteCleanup();
    let database: Database;
    let domains: DomainRepository;
    let call: ReturnType<typeof adminCaller>;
    let url: string;

    before(async () => {
      database = await openTestDatabase(cleanup, await backend.location(cleanup));
      domains = createDomainRepository(database);
      const api = createAdminApi({
        domains,
        adminApiKey: ADMIN_KEY,
        mainDomain: MAIN_DOMAIN,
        sessions,
        logger: silentLogger(),
      });
      const listener = await startPlainAdminListener(api, cleanup);
      url = listener.url;
      call = adminCaller(listener, ADMIN_KEY);
    });
    beforeEach(() => database.db.deleteFrom("domains").execute());

    const register = async (domain: string, memo = "") => {
      const response = await call("POST", "/domains/register", { domain, memo });
      assert.equal(response.status, 200, response.text);
      return response.json<{ success: true; domain: string; client_api_key: string }>();
    };

    it("registers a domain: 64-char key in the answer, a different 64-hex digest in the row", async () => {
      const body = await register("App.Example.com", "staging");
      assert.equal(body.success, true);
      assert.equal(body.domain, "app.example.com");
      assert.match(body.client_api_key, HEX64);
      const row = await database.db
        .selectFrom("domains")
        .selectAll()
        .where("domain", "=", "app.example.com")
        .executeTakeFirstOrThrow();
      assert.match(row.client_api_key, HEX64);
      assert.notEqual(row.client_api_key, body.client_api_key);
      assert.equal(row.memo, "staging");
      assert.ok(await domains.authenticate("app.example.com", body.client_api_key));
    });

    it("answers 409 for a duplicate", async () => {
      await register("dup.example.com");
      assertError(
        await call("POST", "/domains/register", { domain: "DUP.example.com." }),
        409,
        "conflict",
        /already registered/,
      );
    });

    it("unregisters with the right key only; a wrong key leaves the row", async () => {
      const { client_api_key } = await register("own.example.com");
      const other = await register("other.example.com");
      assertError(
        await call("POST", "/domains/unregister", {
          domain: "own.example.com",
          client_api_key: other.client_api_key,
        }),
        403,
        "forbidden",
      );
      assert.ok(await domains.find("own.example.com"), "row stays");
      assertError(
        await call("POST", "/domains/unregister", { domain: "gone.example.com", client_api_key }),
        404,
        "not_found",
      );
      assertError(
        await call("POST", "/domains/unregister", { domain: "own.example.com" }),
        400,
        "invalid_input",
        /client_api_key is required/,
      );
      const ok = await call("POST", "/domains/unregister", { domain: "own.example.com", client_api_key });
      assert.deepEqual([ok.status, ok.json()], [200, { success: true }]);
      assert.equal(await domains.find("own.example.com"), undefined);
    });

    it("answers exists and status in the original shapes, with live sessions", async () => {
      await register("live.example.com", "has a tunnel");
      assert.deepEqual((await call("GET", "/domains/exists?domain=live.example.com")).json(), {
        success: true,
        exists: true,
      });
      assert.deepEqual((await call("GET", "/domains/exists?domain=none.example.com")).json(), {
        success: true,
        exists: false,
      });
      const status = (await call("GET", "/domains/status?domain=LIVE.example.com")).json<
        Record<string, unknown>
      >();
      assert.equal(status.exists, true);
      assert.equal(status.domain, "live.example.com");
      assert.equal(status.memo, "has a tunnel");
      assert.match(String(status.created_at), /^\d{4}-\d\d-\d\dT.*Z$/);
      assert.equal(status.live_sessions, 1);
      assert.deepEqual(
        (status.sessions as Array<Record<string, unknown>>)[0]?.remote_address,
        "203.0.113.7:50000",
      );
      assert.deepEqual((await call("GET", "/domains/status?domain=none.example.com")).json(), {
        success: true,
        exists: false,
      });
      assertError(await call("GET", "/domains/status"), 400, "invalid_input", /^domain is required$/);
    });

    it("lists live sessions, optionally by domain", async () => {
      const all = (await call("GET", "/sessions")).json<{ sessions: Array<{ id: string }> }>();
      assert.deepEqual(
        all.sessions.map((s) => s.id),
        ["s-1"],
      );
      const none = (await call("GET", "/sessions?domain=other.example.com")).json<{ sessions: unknown[] }>();
      assert.deepEqual(none.sessions, []);
    });

    it("revokes with DELETE /domains/{domain}", async () => {
      await register("revoke.example.com");
      assert.equal((await call("DELETE", "/domains/revoke.example.com")).status, 200);
      assert.equal(await domains.find("revoke.example.com"), undefined);
      assertError(await call("DELETE", "/domains/revoke.example.com"), 404, "not_found");
    });

    it("lists domains a page at a time", async () => {
      for (const name of ["c.example.com", "a.example.com", "b.example.com"]) await register(name);
      const first = (await call("GET", "/domains?limit=2")).json<{
        domains: Array<{ domain: string }>;
        next?: string;
      }>();
      assert.deepEqual(
        first.domains.map((d) => d.domain),
        ["a.example.com", "b.example.com"],
      );
      assert.equal(first.next, "b.example.com");
      const second = (await call("GET", `/domains?limit=2&after=${first.next}`)).json<{
        domains: Array<{ domain: string }>;
        next?: string;
      }>();
      assert.deepEqual(
        second.domains.map((d) => d.domain),
        ["c.example.com"],
      );
      assert.equal(second.next, undefined);
      assertError(
        await call("GET", "/domains?limit=0"),
        400,
        "invalid_input",
        /limit must be a whole number/,
      );
    });

    it("rotates a key: the old key is rejected, the new one accepted", async () => {
      const { client_api_key: oldKey } = await register("rotate.example.com");
      const response = await call("POST", "/domains/rotate-key", { domain: "rotate.example.com" });
      assert.equal(response.status, 200, response.text);
      const newKey = response.json<{ client_api_key: string }>().client_api_key;
      assert.match(newKey, HEX64);
      assert.equal(await domains.authenticate("rotate.example.com", oldKey), undefined);
      assert.ok(await domains.authenticate("rotate.example.com", newKey));
      assertError(
        await call("POST", "/domains/rotate-key", { domain: "none.example.com" }),
        404,
        "not_found",
      );
    });

    it("answers 400 for malformed JSON and for a body that is not an object", async () => {
      assertError(
        await call("POST", "/domains/register", '{"domain":'),
        400,
        "invalid_input",
        /malformed JSON/i,
      );
      assertError(
        await call("POST", "/domains/register", "[1,2]"),
        400,
        "invalid_input",
        /body must be a JSON object/,
      );
      assertError(
        await call("POST", "/domains/register", { memo: "no domain" }),
        400,
        "invalid_input",
        /domain is required/,
      );
    });

    it("answers 413 for a 1 MiB body, with and without Content-Length", async () => {
      const big = JSON.stringify({ domain: "big.example.com", memo: "x".repeat(1024 * 1024) });
      const headers = { authorization: `Bearer ${ADMIN_KEY}`, "content-type": "application/json" };
      const sized = await sendRequest(`${url}/domains/register`, { method: "POST", headers, body: big });
      assertError(sized, 413, "payload_too_large");
      const chunks = Array.from({ length: 64 }, () => Buffer.alloc(16 * 1024, 0x20));
      const chunked = await sendRequest(`${url}/domains/register`, { method: "POST", headers, body: chunks });
      assertError(chunked, 413, "payload_too_large");
      assert.equal(await domains.find("big.example.com"), undefined);
    });

    it("accepts a chunked body under the limit", async () => {
      // 40 kB of JSON whitespace: large, under the 64 KiB limit, and valid.
      const json = `{"domain":"chunked.example.com",${" ".repeat(40_000)}"memo":"chunked"}`;
      const body = [Buffer.from(json.slice(0, 30_000)), Buffer.from(json.slice(30_000))];
      const headers = { authorization: `Bearer ${ADMIN_KEY}`, "content-type": "application/json" };
      const response = await sendRequest(`${url}/domains/register`, { method: "POST", headers, body });
      assert.equal(response.status, 200, response.text);
      assert.equal((await domains.find("chunked.example.com"))?.memo, "chunked");
    });

    it("answers 415 for a body that is not JSON", async () => {
      const response = await call("POST", "/domains/register", "domain=x.example.com", {
        authorization: `Bearer ${ADMIN_KEY}`,
        "content-type": "application/x-www-form-urlencoded",
      });
      assertError(response, 415, "unsupported_media_type");
    });

    it("answers 401 with a Bearer challenge for a missing or wrong key", async () => {
      const attempts: Array<Record<string, string>> = [
        {},
        { authorization: "Bearer wrong-key-0123456789" },
        { authorization: `Basic ${ADMIN_KEY}` },
        { authorization: `Bearer ${ADMIN_KEY}x` },
      ];
      for (const headers of attempts) {
        const response = await call("GET", "/domains", undefined, headers);
        assertError(response, 401, "unauthenticated");
        assert.match(String(response.headers["www-authenticate"]), /^Bearer realm="hopgate-admin"/);
      }
    });

    it("answers 405 with Allow for a wrong method, and 404 for an unknown route", async () => {
      const response = await call("PUT", "/domains/register", {});
      assertError(response, 405, "method_not_allowed");
      assert.match(String(response.headers.allow), /\bPOST\b/);
      const get = await call("GET", "/domains/rotate-key");
      assertError(get, 405, "method_not_allowed");
      assert.match(String(get.headers.allow), /\bPOST\b/);
      assertError(await call("GET", "/no-such-route"), 404, "not_found");
    });

    it("serves its OpenAPI document, generated from the request schemas", async () => {
      const response = await call("GET", "/openapi.json");
      assert.equal(response.status, 200);
      const doc = response.json<{
        openapi: string;
        paths: Record<string, Record<string, { requestBody?: unknown }>>;
      }>();
      assert.equal(doc.openapi, "3.1.0");
      for (const path of ["register", "unregister", "exists", "status", "rotate-key"]) {
        assert.ok(doc.paths[`/api/v1/admin/domains/${path}`], path);
      }
      assert.ok(doc.paths["/api/v1/admin/domains/{domain}"]?.delete);
      assert.match(
        JSON.stringify(doc.paths["/api/v1/admin/domains/register"]?.post?.requestBody),
        /"required":\["domain"\]/,
      );
    });
  });
}
