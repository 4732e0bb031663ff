import { sql, type Kysely } from "kysely";
import type { Migration } from "kysely/migration";
import type { StoreDialect } from "../schema.js";

/**
 * Certificates and ACME accounts (ARCHITECTURE.md, Certificate manager): kept in the store so
 * that a restart, or a second server sharing PostgreSQL, reuses them. One row per domain (the
 * current certificate) and one per ACME directory URL (staging and production differ).
 */
export function certificatesMigration(dialect: StoreDialect): Migration {
  const pg = dialect === "postgres";
  const strict = <T extends { modifyEnd(modifier: ReturnType<typeof sql>): T }>(table: T): T =>
    pg ? table : table.modifyEnd(sql`strict`);
  return {
    async up(db: Kysely<unknown>) {
      await strict(
        db.schema
          .createTable("certificates")
          .addColumn("domain", pg ? sql`varchar(253) collate "C"` : "text", (c) => c.primaryKey().notNull())
          .addColumn("certificate_pem", "text", (c) => c.notNull())
          .addColumn("private_key_pem", "text", (c) => c.notNull())
          .addColumn("not_after", pg ? "timestamptz" : "text", (c) => c.notNull())
          .addColumn("updated_at", pg ? "timestamptz" : "text", (c) => c.notNull()),
      ).execute();
      await strict(
        db.schema
          .createTable("acme_accounts")
          .addColumn("directory_url", "text", (c) => c.primaryKey().notNull())
          .addColumn("account_key_pem", "text", (c) => c.notNull())
          .addColumn("account_url", "text", (c) => c.notNull())
          .addColumn("email", "text", (c) => c.notNull().defaultTo(""))
          .addColumn("created_at", pg ? "timestamptz" : "text", (c) => c.notNull())
          .addColumn("updated_at", pg ? "timestamptz" : "text", (c) => c.notNull()),
      ).execute();
    },
    async down(db: Kysely<unknown>) {
      await db.schema.dropTable("acme_accounts").execute();
      await db.schema.dropTable("certificates").execute();
    },
  };
}
