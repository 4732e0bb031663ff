import assert from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { beforeEach, describe, it } from "node:test";
import { digestApiKey } from "../../src/lib/api-key.js";
import { isHopGateError } from "../../src/lib/hopgate-error.js";
import type { Database } from "../../src/server/store/database.js";
import { SQLITE_FILE_NAME } from "../../src/server/store/database.js";
import {
  createDomainRepository,
  type DomainChange,
  type DomainRepository,
} from "../../src/server/store/domain-repository.js";
import { openTestDatabase, storeBackends, suiteCleanup } from "../helpers/store-backends.js";
import { cuttablePgDatabase, pgSkip } from "../helpers/postgres.js";
import { runStoreProcess } from "../helpers/store-process.js";

const HEX64 = /^[0-9a-f]{64}$/;
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

function rejectsWith(code: string) {
  return (error: unknown) => {
    assert.ok(isHopGateError(error), `expected a HopGateError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    return true;
  };
}

for (const backend of storeBackends) {
  describe(`DomainRepository on ${backend.name}`, { skip: backend.skip }, () => {
    const cleanup = suiteCleanup();
    let database: Database;
    let domains: DomainRepository;
    let changes: DomainChange[];

    beforeEach(async () => {
      database ??= await openTestDatabase(cleanup, await backend.location(cleanup));
      await database.db.deleteFrom("domains").execute();
      changes = [];
      domains = createDomainRepository(database, { onChange: (event) => changes.push(event) });
    });

    const storedDigest = async (domain: string) =>
      (
        await database.db
          .selectFrom("domains")
          .select("client_api_key")
          .where("domain", "=", domain)
          .executeTakeFirst()
      )?.client_api_key;

    it("registers a domain with a 64-hex key and stores only the key's SHA-256 digest", async () => {
      const { record, clientApiKey } = await domains.register("app.example.com", "staging");
      assert.match(clientApiKey, HEX64);
      const digest = await storedDigest("app.example.com");
      assert.match(digest ?? "", HEX64);
      assert.notEqual(digest, clientApiKey);
      assert.equal(digest, digestApiKey(clientApiKey));
      assert.equal(record.domain, "app.example.com");
      assert.equal(record.memo, "staging");
      assert.match(record.id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      assert.match(record.createdAt, ISO);
      assert.deepEqual(await domains.find("app.example.com"), record);
      assert.deepEqual(changes, [{ type: "registered", domain: "app.example.com" }]);
    });

    it("finds a wildcard by its key among wildcard rows only", async () => {
      const wildcard = await domains.register("*.tunnel.example.com", "self-service");
      const other = await domains.register("*.other.example.com", "");
      const exact = await domains.register("app.example.com", "");
      // Names that sort right around the wildcard range ("*." up to "*/").
      await domains.register("0.example.com", "");
      assert.equal(await domains.findWildcardByKey(wildcard.clientApiKey), "*.tunnel.example.com");
      assert.equal(await domains.findWildcardByKey(other.clientApiKey), "*.other.example.com");
      assert.equal(await domains.findWildcardByKey(exact.clientApiKey), undefined);
      assert.equal(await domains.findWildcardByKey("not-a-key"), undefined);
    });

    it("refuses a second registration of the same domain as a conflict", async () => {
      const { clientApiKey } = await domains.register("dup.example.com", "");
      await assert.rejects(domains.register("dup.example.com", "again"), rejectsWith("conflict"));
      assert.ok(await domains.authenticate("dup.example.com", clientApiKey), "the first key still works");
    });

    it("unregisters only with the domain's own key", async () => {
      const { clientApiKey } = await domains.register("own.example.com", "");
      const other = await domains.register("other.example.com", "");
      await assert.rejects(
        domains.unregister("own.example.com", other.clientApiKey),
        rejectsWith("forbidden"),
      );
      await assert.rejects(domains.unregister("own.example.com", ""), rejectsWith("forbidden"));
      assert.ok(await domains.find("own.example.com"), "the row stays after a wrong key");
      await assert.rejects(domains.unregister("missing.example.com", clientApiKey), rejectsWith("not_found"));
      await domains.unregister("own.example.com", clientApiKey);
      assert.equal(await domains.find("own.example.com"), undefined);
      assert.deepEqual(changes.at(-1), { type: "unregistered", domain: "own.example.com" });
    });

    it("revokes a domain without its key", async () => {
      await domains.register("revoked.example.com", "");
      await domains.revoke("revoked.example.com");
      assert.equal(await domains.find("revoked.example.com"), undefined);
      await assert.rejects(domains.revoke("revoked.example.com"), rejectsWith("not_found"));
    });

    it("rotates a key: the old one stops working, the new one works", async () => {
      const { clientApiKey: oldKey, record } = await domains.register("rotate.example.com", "");
      const newKey = await domains.rotateKey("rotate.example.com");
      assert.match(newKey, HEX64);
      assert.notEqual(newKey, oldKey);
      assert.equal(await domains.authenticate("rotate.example.com", oldKey), undefined);
      const authenticated = await domains.authenticate("rotate.example.com", newKey);
      assert.equal(authenticated?.createdAt, record.createdAt);
      assert.ok((authenticated?.updatedAt ?? "") >= record.updatedAt);
      await assert.rejects(domains.unregister("rotate.example.com", oldKey), rejectsWith("forbidden"));
      await assert.rejects(domains.rotateKey("missing.example.com"), rejectsWith("not_found"));
      assert.deepEqual(changes.at(-1), { type: "key_rotated", domain: "rotate.example.com" });
    });

    it("authenticates nothing for unknown domains or keys of other domains", async () => {
      const a = await domains.register("a.example.com", "");
      await domains.register("b.example.com", "");
      assert.equal(await domains.authenticate("b.example.com", a.clientApiKey), undefined);
      assert.equal(await domains.authenticate("c.example.com", a.clientApiKey), undefined);
      assert.equal(await domains.authenticate("a.example.com", digestApiKey(a.clientApiKey)), undefined);
    });

    it("lists domains in name order, page by page", async () => {
      const names = ["d.example.com", "a.example.com", "c.example.com", "e.example.com", "b.example.com"];
      for (const name of names) await domains.register(name, name);
      const seen: string[] = [];
      let after: string | undefined;
      let pages = 0;
      do {
        const page = await domains.list({ limit: 2, after });
        assert.ok(page.items.length <= 2);
        seen.push(...page.items.map((item) => item.domain));
        after = page.next;
        pages++;
      } while (after !== undefined);
      assert.deepEqual(seen, [...names].sort());
      assert.equal(pages, 3);
      assert.deepEqual(
        (await domains.list({ limit: 10, after: "b.example.com" })).items.map((item) => item.domain),
        ["c.example.com", "d.example.com", "e.example.com"],
      );
      assert.deepEqual(await domains.allDomains(), [...names].sort());
      await assert.rejects(domains.list({ limit: 0 }), rejectsWith("invalid_input"));
    });

    it("treats hostile input as data (parameterized queries)", async () => {
      const hostile = "x'); drop table domains; --";
      assert.equal(await domains.find(hostile), undefined);
      await domains.register("safe.example.com", hostile);
      assert.equal((await domains.find("safe.example.com"))?.memo, hostile);
    });
  });
}

describe("DomainRepository when the store is unreachable", () => {
  it("reports a locked SQLite file as unavailable, with the driver error as cause", async (t) => {
    const location = await storeBackends[0]!.location((fn) => t.after(fn));
    const database = await openTestDatabase((fn) => t.after(fn), location, { busyTimeoutMs: 100 });
    const domains = createDomainRepository(database);
    const other = new DatabaseSync(join(location.dataDir, SQLITE_FILE_NAME));
    other.exec("begin exclusive");
    t.after(() => {
      other.exec("rollback");
      other.close();
    });
    await assert.rejects(domains.register("locked.example.com", ""), (error) => {
      assert.ok(isHopGateError(error, "unavailable"), String(error));
      assert.match(String((error.cause as { message?: string }).message), /locked/);
      return true;
    });
  });

  it("reports lost PostgreSQL connections as unavailable", { skip: pgSkip() }, async (t) => {
    const pg = await cuttablePgDatabase(t);
    const database = await openTestDatabase((fn) => t.after(fn), { dsn: pg.cuttableDsn, dataDir: "" });
    const domains = createDomainRepository(database);
    await domains.register("before.example.com", "");
    await pg.cut();
    await assert.rejects(domains.find("before.example.com"), rejectsWith("unavailable"));
    await assert.rejects(database.ping(), rejectsWith("unavailable"));
  });
});

describe("DomainRepository persistence", () => {
  it("keeps a domain registered by one process for the next process (embedded store)", async (t) => {
    const location = await storeBackends[0]!.location((fn) => t.after(fn));
    const registered = await runStoreProcess(location, ["register", "persist.example.com"]);
    assert.match(String(registered.clientApiKey), HEX64);
    const found = await runStoreProcess(location, ["find", "persist.example.com"]);
    assert.equal((found.record as { domain?: string } | null)?.domain, "persist.example.com");
  });
});
