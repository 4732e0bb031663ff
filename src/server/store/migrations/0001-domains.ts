import { sql, type Kysely } from "kysely";
import type { Migration } from "kysely/migration";
import type { StoreDialect } from "../schema.js";

/**
 * The `domains` table (ARCHITECTURE.md, Store). Column names are identical on both backends;
 * only types differ: PostgreSQL gets uuid/timestamptz and a byte-order ("C") collation on
 * `domain` so that keyset paging orders exactly as SQLite's BINARY collation does.
 */
export function domainsMigration(dialect: StoreDialect): Migration {
  return {
    async up(db: Kysely<unknown>) {
      const pg = dialect === "postgres";
      let table = db.schema
        .createTable("domains")
        .addColumn("id", pg ? "uuid" : "text", (c) => c.primaryKey().notNull())
        .addColumn("domain", pg ? sql`varchar(253) collate "C"` : "text", (c) =>
          c
            .notNull()
            .unique()
            .check(sql`length(domain) between 1 and 253`),
        )
        .addColumn("client_api_key", pg ? "char(64)" : "text", (c) =>
          c.notNull().check(sql`length(client_api_key) = 64`),
        )
        .addColumn("memo", "text", (c) => c.notNull().defaultTo(""))
        .addColumn("created_at", pg ? "timestamptz" : "text", (c) => c.notNull())
        .addColumn("updated_at", pg ? "timestamptz" : "text", (c) => c.notNull());
      // SQLite STRICT tables reject values of the wrong type instead of coercing them.
      if (!pg) table = table.modifyEnd(sql`strict`);
      await table.execute();
    },
    async down(db: Kysely<unknown>) {
      await db.schema.dropTable("domains").execute();
    },
  };
}
