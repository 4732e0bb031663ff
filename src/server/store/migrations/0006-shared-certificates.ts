import { sql, type Kysely } from "kysely";
import type { Migration } from "kysely/migration";
import type { StoreDialect } from "../schema.js";

/**
 * What the servers of one gateway share to order each certificate once (docs/certificates.md):
 *
 * - `acme_challenges`: pending HTTP-01 challenges. The server that orders writes the token before
 *   the CA is told to validate and deletes it afterwards; any server's port-80 listener answers
 *   from it. `expires_at` bounds a row that a crashed server left behind.
 * - `lock_leases`: named locks with an expiry, for SQLite only (several processes on one store
 *   file, `--workers`); PostgreSQL uses advisory locks and leaves the table empty.
 */
export function sharedCertificatesMigration(dialect: StoreDialect): Migration {
  const pg = dialect === "postgres";
  const key = pg ? sql`varchar(128) collate "C"` : "text";
  const time = pg ? "timestamptz" : "text";
  const strict = <T extends { modifyEnd(modifier: ReturnType<typeof sql>): T }>(table: T): T =>
    pg ? table : table.modifyEnd(sql`strict`);
  return {
    async up(db: Kysely<unknown>) {
      await strict(
        db.schema
          .createTable("acme_challenges")
          .addColumn("token", key, (c) => c.primaryKey().notNull())
          .addColumn("key_authorization", "text", (c) => c.notNull())
          .addColumn("expires_at", time, (c) => c.notNull()),
      ).execute();
      await strict(
        db.schema
          .createTable("lock_leases")
          .addColumn("name", "text", (c) => c.primaryKey().notNull())
          .addColumn("owner", "text", (c) => c.notNull())
          .addColumn("expires_at", time, (c) => c.notNull()),
      ).execute();
    },
    async down(db: Kysely<unknown>) {
      await db.schema.dropTable("lock_leases").execute();
      await db.schema.dropTable("acme_challenges").execute();
    },
  };
}
