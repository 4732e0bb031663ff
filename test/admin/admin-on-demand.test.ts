import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { silentLogger } from "../../src/lib/logger.js";
import type { AdminApiOptions } from "../../src/server/admin/admin-api.js";
import { createAdminApiOnDemand } from "../../src/server/admin/admin-on-demand.js";
import { createDomainRepository } from "../../src/server/store/domain-repository.js";
import { adminCaller } from "../helpers/admin-client.js";
import { startPlainAdminListener } from "../helpers/admin-server.js";
import { openTestDatabase, storeBackends, suiteCleanup } from "../helpers/store-backends.js";

const ADMIN_KEY = "on-demand-admin-key-0123456789";

describe("admin API built on the first admin request", () => {
  const cleanup = suiteCleanup();
  let options: AdminApiOptions;
  before(async () => {
    const database = await openTestDatabase(cleanup, await storeBackends[0]!.location(cleanup));
    options = {
      domains: createDomainRepository(database),
      adminApiKey: ADMIN_KEY,
      mainDomain: "hopgate.example.com",
      logger: silentLogger(),
    };
  });

  it("answers the requests that arrive while it loads, and loads it once", async () => {
    let loads = 0;
    const handle = createAdminApiOnDemand(options, () => {
      loads++;
      return import("../../src/server/admin/admin-api.js");
    });
    const call = adminCaller(await startPlainAdminListener({ handle }, cleanup), ADMIN_KEY);
    const [registered, unauthenticated] = await Promise.all([
      call("POST", "/domains/register", { domain: "first.example.com", memo: "" }),
      call("GET", "/domains", undefined, {}),
    ]);
    assert.equal(registered.status, 200, registered.text);
    assert.match(registered.json<{ client_api_key: string }>().client_api_key, /^[0-9a-f]{64}$/);
    assert.equal(unauthenticated.status, 401, unauthenticated.text);
    const later = await call("POST", "/domains/register", { domain: "first.example.com", memo: "" });
    assert.equal(later.status, 409, later.text);
    assert.equal(loads, 1);
  });

  it("answers 500 in the API's error format when loading fails, and tries again on the next request", async () => {
    let loads = 0;
    const handle = createAdminApiOnDemand(options, () => {
      loads++;
      if (loads === 1) return Promise.reject(new Error("module missing"));
      return import("../../src/server/admin/admin-api.js");
    });
    const call = adminCaller(await startPlainAdminListener({ handle }, cleanup), ADMIN_KEY);
    const failed = await call("POST", "/domains/register", { domain: "second.example.com", memo: "" });
    assert.equal(failed.status, 500);
    assert.match(String(failed.headers["content-type"]), /^application\/json/);
    assert.deepEqual(failed.json(), {
      success: false,
      error: { code: "internal", message: "internal error" },
    });
    const retried = await call("POST", "/domains/register", { domain: "second.example.com", memo: "" });
    assert.equal(retried.status, 200, retried.text);
    assert.equal(loads, 2);
  });
});
