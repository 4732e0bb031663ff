import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { silentLogger } from "../../src/lib/logger.js";
import { createAdminApi } from "../../src/server/admin/admin-api.js";
import { createDomainRepository, type DomainRepository } from "../../src/server/store/domain-repository.js";
import { adminCaller } from "../helpers/admin-client.js";
import { startTlsAdminListener, type AdminListener } from "../helpers/admin-server.js";
import { sendRequest } from "../helpers/http-request.js";
import { openTestDatabase, storeBackends, suiteCleanup } from "../helpers/store-backends.js";

const ADMIN_KEY = "http2-admin-key-0123456789";

describe("admin API on an HTTP/2 TLS listener with HTTP/1.1 fallback", () => {
  const cleanup = suiteCleanup();
  let listener: AdminListener;
  let domains: DomainRepository;
  before(async () => {
    const database = await openTestDatabase(cleanup, await storeBackends[0]!.location(cleanup));
    domains = createDomainRepository(database);
    const api = createAdminApi({
      domains,
      adminApiKey: ADMIN_KEY,
      mainDomain: "localhost",
      logger: silentLogger(),
    });
    listener = await startTlsAdminListener(api, cleanup);
  });

  for (const http2 of [true, false]) {
    const protocol = http2 ? "HTTP/2" : "HTTP/1.1 over TLS";
    it(`registers, reads and revokes over ${protocol}`, async () => {
      const call = adminCaller(listener, ADMIN_KEY, { http2 });
      const domain = `${http2 ? "h2" : "h1"}.example.com`;
      const registered = await call("POST", "/domains/register", { domain, memo: protocol });
      assert.equal(registered.status, 200, registered.text);
      const key = registered.json<{ client_api_key: string }>().client_api_key;
      assert.ok(await domains.authenticate(domain, key));
      const status = await call("GET", `/domains/status?domain=${domain}`);
      assert.equal(status.json<{ memo: string }>().memo, protocol);
      const wrongMethod = await call("PATCH", "/domains/register", {});
      assert.equal(wrongMethod.status, 405);
      assert.match(String(wrongMethod.headers.allow), /POST/);
      assert.equal((await call("DELETE", `/domains/${domain}`)).status, 200);
    });
  }

  it("counts HTTP/2 body bytes without Content-Length and answers 413 past 64 KiB", async () => {
    const headers = { authorization: `Bearer ${ADMIN_KEY}`, "content-type": "application/json" };
    const chunks = Array.from({ length: 64 }, () => Buffer.alloc(16 * 1024, 0x20));
    const response = await sendRequest(`${listener.url}/domains/register`, {
      method: "POST",
      headers,
      body: chunks,
      http2: true,
      ca: listener.ca,
    });
    assert.equal(response.status, 413, response.text);
    assert.equal(response.json<{ error: { code: string } }>().error.code, "payload_too_large");
  });
});
