import { sql, type Kysely } from "kysely";
import type { Migration } from "kysely/migration";
import type { StoreDialect } from "../schema.js";

/**
 * `acme_failures`: failed ACME orders that reached the CA, one row per failure, counted by every
 * server sharing the store (src/server/certs/acme/kysely-order-failures.ts), so that the CA's
 * limit of failed validations per account, name and hour holds for the gateway and not per
 * server. `failures` is the consecutive number of the failure since the name's last stored
 * certificate; times are epoch milliseconds on the database's clock. Rows go when a certificate
 * of the name is stored or deleted; older than an hour they are pruned except the latest.
 */
export function acmeFailuresMigration(dialect: StoreDialect): Migration {
  const pg = dialect === "postgres";
  const ms = pg ? "double precision" : "real";
  const strict = <T extends { modifyEnd(modifier: ReturnType<typeof sql>): T }>(table: T): T =>
    pg ? table : table.modifyEnd(sql`strict`);
  return {
    async up(db: Kysely<unknown>) {
      await strict(
        db.schema
          .createTable("acme_failures")
          .addColumn("domain", pg ? sql`varchar(253) collate "C"` : "text", (c) => c.notNull())
          .addColumn("failures", "integer", (c) => c.notNull())
          .addColumn("failed_ms", ms, (c) => c.notNull())
          .addColumn("next_retry_ms", ms, (c) => c.notNull())
          .addColumn("reason", "text", (c) => c.notNull())
          .addPrimaryKeyConstraint("acme_failures_pkey", ["domain", "failures"]),
      ).execute();
    },
    async down(db: Kysely<unknown>) {
      await db.schema.dropTable("acme_failures").execute();
    },
  };
}
