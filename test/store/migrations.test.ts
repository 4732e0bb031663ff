import assert from "node:assert/strict";
import { stat } from "node:fs/promises";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import type { Kysely } from "kysely";
import { storeMigrations } from "../../src/server/store/migrations/index.js";
import { migrateToLatest } from "../../src/server/store/migrator.js";
import { isHopGateError } from "../../src/lib/hopgate-error.js";
import { silentLogger } from "../../src/lib/logger.js";
import { SQLITE_FILE_NAME } from "../../src/server/store/database.js";
import {
  openTestDatabase,
  storeBackends,
  suiteCleanup,
  type StoreLocation,
} from "../helpers/store-backends.js";
import { startStoreProcess } from "../helpers/store-process.js";

const DOMAINS_COLUMNS = [
  "access_policy",
  "client_api_key",
  "created_at",
  "domain",
  "id",
  "memo",
  "updated_at",
];

async function domainsColumns(db: Kysely<unknown>): Promise<string[]> {
  const tables = await db.introspection.getTables();
  const domains = tables.find((table) => table.name === "domains");
  assert.ok(domains, "the domains table exists");
  return domains.columns.map((column) => column.name).sort();
}

async function appliedMigrations(db: Kysely<unknown>): Promise<Array<{ name: string; timestamp: string }>> {
  return (db as Kysely<{ kysely_migration: { name: string; timestamp: string } }>)
    .selectFrom("kysely_migration")
    .select(["name", "timestamp"])
    .orderBy("name")
    .execute();
}

for (const backend of storeBackends) {
  describe(`store migrations on ${backend.name}`, { skip: backend.skip }, () => {
    const cleanup = suiteCleanup();
    let location: StoreLocation;
    before(async () => {
      location = await backend.location(cleanup);
    });

    it("creates the domains table with the columns of ARCHITECTURE.md", async (t) => {
      const database = await openTestDatabase((fn) => t.after(fn), location);
      assert.deepEqual(await domainsColumns(database.db as Kysely<unknown>), DOMAINS_COLUMNS);
      assert.equal(database.dialect, backend.name);
    });

    it("changes nothing when applied again, by a reopen or a second migrator run", async (t) => {
      const first = await openTestDatabase((fn) => t.after(fn), location);
      const before = await appliedMigrations(first.db as Kysely<unknown>);
      assert.deepEqual(
        before.map((row) => row.name),
        Object.keys(storeMigrations(backend.name)),
      );
      await first.close();

      const reopened = await openTestDatabase((fn) => t.after(fn), location);
      const db = reopened.db as Kysely<unknown>;
      await migrateToLatest(db, storeMigrations(backend.name), silentLogger());
      assert.deepEqual(await appliedMigrations(db), before, "same rows, same timestamps");
      assert.deepEqual(await domainsColumns(db), DOMAINS_COLUMNS);
    });

    it("migrates a fresh store from two processes started at the same moment", async (t) => {
      const fresh = await backend.location((fn) => t.after(fn));
      const children = [0, 1].map(() => startStoreProcess(fresh, ["migrate"]));
      t.after(() => children.forEach(({ child }) => child.kill()));
      for (const { lines } of children) assert.deepEqual((await lines.next()).value, { ready: true });
      // Both are loaded and waiting; release them together so that their migrations overlap.
      for (const { child } of children) child.stdin.end("go\n");
      for (const { lines, exited } of children) {
        assert.deepEqual((await lines.next()).value, { migrated: true });
        const { code, stderr } = await exited;
        assert.equal(code, 0, stderr);
      }
      const database = await openTestDatabase((fn) => t.after(fn), fresh);
      const applied = await appliedMigrations(database.db as Kysely<unknown>);
      assert.deepEqual(
        applied.map((row) => row.name),
        Object.keys(storeMigrations(backend.name)),
      );
    });
  });
}

describe(
  "store migrations on both backends",
  { skip: storeBackends.find((b) => b.skip)?.skip ?? false },
  () => {
    it("report the same column names for domains", async (t) => {
      const columns = [];
      for (const backend of storeBackends) {
        const database = await openTestDatabase(
          (fn) => t.after(fn),
          await backend.location((fn) => t.after(fn)),
        );
        columns.push(await domainsColumns(database.db as Kysely<unknown>));
      }
      assert.equal(columns.length, 2);
      assert.deepEqual(columns[0], columns[1]);
    });

    it("create the server registry tables (0004, peer_addr and gateway_ca from 0005) with the same columns on both", async (t) => {
      const shapes = [];
      for (const backend of storeBackends) {
        const database = await openTestDatabase(
          (fn) => t.after(fn),
          await backend.location((fn) => t.after(fn)),
        );
        const tables = await (database.db as Kysely<unknown>).introspection.getTables();
        const columnsOf = (name: string) =>
          tables
            .find((table) => table.name === name)
            ?.columns.map((column) => column.name)
            .sort();
        shapes.push({
          servers: columnsOf("servers"),
          tunnel_sessions: columnsOf("tunnel_sessions"),
          gateway_ca: columnsOf("gateway_ca"),
        });
      }
      assert.deepEqual(shapes[0]?.servers, [
        "advertise_addr",
        "id",
        "last_seen_at",
        "peer_addr",
        "started_at",
      ]);
      assert.deepEqual(shapes[0]?.gateway_ca, ["certificate_pem", "created_at", "id", "private_key_pem"]);
      assert.ok(shapes[0]?.tunnel_sessions?.includes("server_id"));
      assert.deepEqual(shapes[0], shapes[1]);
    });
  },
);

describe("openDatabase", () => {
  // pg takes the password from the user info or from a `password` parameter.
  for (const [dsn, shown] of [
    ["postgres://hopgate:hunter2@127.0.0.1:1/hopgate", "postgres://hopgate:****@127.0.0.1:1/hopgate"],
    [
      "postgres://hopgate@127.0.0.1:1/hopgate?password=hunter2&sslpassword=hunter2",
      "postgres://hopgate@127.0.0.1:1/hopgate?password=****&sslpassword=****",
    ],
  ]) {
    it(`fails as unavailable, naming the masked DSN ${shown}, when PostgreSQL does not answer`, async (t) => {
      const dataDir = await storeBackends[0]!.location((fn) => t.after(fn));
      await assert.rejects(
        openTestDatabase((fn) => t.after(fn), { ...dataDir, dsn }),
        (error) => {
          assert.ok(isHopGateError(error, "unavailable"), String(error));
          assert.ok(error.message.startsWith(`cannot open the store at ${shown}: `), error.message);
          assert.match(error.message, /ECONNREFUSED/);
          assert.doesNotMatch(error.message, /hunter2/);
          return true;
        },
      );
    });
  }

  it("creates the data directory of the embedded store", async (t) => {
    const { dataDir } = await storeBackends[0]!.location((fn) => t.after(fn));
    const nested = join(dataDir, "a", "b");
    await openTestDatabase((fn) => t.after(fn), { dataDir: nested });
    assert.ok((await stat(join(nested, SQLITE_FILE_NAME))).isFile());
  });
});
