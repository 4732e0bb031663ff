import assert from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { describe, it } from "node:test";
import { silentLogger } from "../../src/lib/logger.js";
import { createAdminApi } from "../../src/server/admin/admin-api.js";
import { SQLITE_FILE_NAME } from "../../src/server/store/database.js";
import { createDomainRepository, type DomainRepository } from "../../src/server/store/domain-repository.js";
import { adminCaller } from "../helpers/admin-client.js";
import { startPlainAdminListener } from "../helpers/admin-server.js";
import { openTestDatabase, storeBackends } from "../helpers/store-backends.js";

const ADMIN_KEY = "availability-admin-key-01";
const sqlite = storeBackends[0]!;

describe("admin API availability", () => {
  it("answers 503 'admin API disabled' on every route when no admin key is configured", async (t) => {
    const cleanup = (fn: () => unknown) => t.after(fn);
    const database = await openTestDatabase(cleanup, await sqlite.location(cleanup));
    const domains = createDomainRepository(database);
    for (const adminApiKey of [undefined, ""]) {
      const api = createAdminApi({ domains, adminApiKey, mainDomain: "localhost", logger: silentLogger() });
      const call = adminCaller(await startPlainAdminListener(api, cleanup), "anything-at-all-0123");
      const requests: Array<[string, string, unknown?]> = [
        ["POST", "/domains/register", { domain: "open.example.com" }],
        ["GET", "/domains"],
        ["GET", "/openapi.json"],
        ["DELETE", "/domains/open.example.com"],
      ];
      for (const [method, path, body] of requests) {
        const response = await call(method, path, body);
        assert.equal(response.status, 503, `${method} ${path}: ${response.text}`);
        assert.deepEqual(response.json(), {
          success: false,
          error: { code: "unavailable", message: "admin API disabled: the server has no HOP_ADMIN_API_KEY" },
        });
      }
      const bare = await call("GET", "/domains", undefined, {});
      assert.equal(bare.status, 503, "also without credentials");
    }
    assert.deepEqual(await domains.allDomains(), [], "nothing was registered");
  });

  it("answers 503 without driver text when the store is locked", async (t) => {
    const cleanup = (fn: () => unknown) => t.after(fn);
    const location = await sqlite.location(cleanup);
    const database = await openTestDatabase(cleanup, location, { busyTimeoutMs: 100 });
    const api = createAdminApi({
      domains: createDomainRepository(database),
      adminApiKey: ADMIN_KEY,
      mainDomain: "localhost",
      logger: silentLogger(),
    });
    const call = adminCaller(await startPlainAdminListener(api, cleanup), ADMIN_KEY);
    const other = new DatabaseSync(join(location.dataDir, SQLITE_FILE_NAME));
    other.exec("begin exclusive");
    t.after(() => {
      other.exec("rollback");
      other.close();
    });
    const response = await call("POST", "/domains/register", { domain: "locked.example.com" });
    assert.equal(response.status, 503, response.text);
    assert.deepEqual(response.json(), {
      success: false,
      error: { code: "unavailable", message: "store unavailable" },
    });
  });

  it("answers 500 'internal error' for a fault, with no internal text", async (t) => {
    const broken = new Proxy({} as DomainRepository, {
      get: () => () => Promise.reject(new TypeError("secret internals at /srv/hopgate/x.ts:12")),
    });
    const api = createAdminApi({
      domains: broken,
      adminApiKey: ADMIN_KEY,
      mainDomain: "localhost",
      logger: silentLogger(),
    });
    const call = adminCaller(await startPlainAdminListener(api, (fn) => t.after(fn)), ADMIN_KEY);
    const response = await call("GET", "/domains/exists?domain=x.example.com");
    assert.equal(response.status, 500);
    assert.deepEqual(response.json(), {
      success: false,
      error: { code: "internal", message: "internal error" },
    });
    assert.doesNotMatch(response.text, /secret|srv/);
  });
});
