import { sql, type Kysely } from "kysely";
import type { Migration } from "kysely/migration";
import type { StoreDialect } from "../schema.js";

/**
 * The server registry of a gateway (docs/scale-out.md): one `servers` row per running server,
 * refreshed by its heartbeat and deleted once it has not been seen for the expiry, and one
 * `tunnel_sessions` row per live tunnel session, written by the server that holds it. Both are
 * a best-effort mirror of in-memory state: a server never needs them to route a request. SQLite
 * gets the tables too (one schema for both backends) but a single embedded server leaves them
 * empty.
 */
export function serverRegistryMigration(dialect: StoreDialect): Migration {
  const pg = dialect === "postgres";
  const time = pg ? "timestamptz" : "text";
  const strict = <T extends { modifyEnd(modifier: ReturnType<typeof sql>): T }>(table: T): T =>
    pg ? table : table.modifyEnd(sql`strict`);
  return {
    async up(db: Kysely<unknown>) {
      await strict(
        db.schema
          .createTable("servers")
          .addColumn("id", pg ? "uuid" : "text", (c) => c.primaryKey().notNull())
          .addColumn("advertise_addr", "text")
          .addColumn("started_at", time, (c) => c.notNull())
          .addColumn("last_seen_at", time, (c) => c.notNull()),
      ).execute();
      await strict(
        db.schema
          .createTable("tunnel_sessions")
          .addColumn("server_id", pg ? "uuid" : "text", (c) =>
            c.notNull().references("servers.id").onDelete("cascade"),
          )
          .addColumn("id", "text", (c) => c.notNull())
          .addColumn("domain", pg ? sql`varchar(253) collate "C"` : "text", (c) => c.notNull())
          .addColumn("remote_address", "text", (c) => c.notNull())
          .addColumn("protocol_version", "integer", (c) => c.notNull())
          .addColumn("services", "text", (c) => c.notNull())
          .addColumn("connected_at", time, (c) => c.notNull())
          .addColumn("state", "text", (c) => c.notNull())
          .addColumn("in_flight_streams", "integer", (c) => c.notNull())
          .addColumn("bytes_to_client", pg ? "bigint" : "integer", (c) => c.notNull())
          .addColumn("bytes_from_client", pg ? "bigint" : "integer", (c) => c.notNull())
          .addPrimaryKeyConstraint("tunnel_sessions_pkey", ["server_id", "id"]),
      ).execute();
      await db.schema.createIndex("tunnel_sessions_domain").on("tunnel_sessions").column("domain").execute();
    },
    async down(db: Kysely<unknown>) {
      await db.schema.dropTable("tunnel_sessions").execute();
      await db.schema.dropTable("servers").execute();
    },
  };
}
