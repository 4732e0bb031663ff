import { sql, type Kysely } from "kysely";
import type { Migration } from "kysely/migration";
import type { StoreDialect } from "../schema.js";

/**
 * The peer link of a gateway (docs/scale-out.md): `servers.peer_addr`, the host:port where a
 * server's peer listener is reached by the other servers (null: none), and `gateway_ca`, the one
 * private CA of the gateway that signs every server's short-lived peer certificate. The CA's key
 * is in the database: whoever reads it can join the gateway (docs/security.md).
 */
export function peerLinkMigration(dialect: StoreDialect): Migration {
  const pg = dialect === "postgres";
  return {
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable("servers").addColumn("peer_addr", "text").execute();
      const table = db.schema
        .createTable("gateway_ca")
        // One row: the key 1 is the only one allowed.
        .addColumn("id", "integer", (c) =>
          c
            .primaryKey()
            .notNull()
            .check(sql`id = 1`),
        )
        .addColumn("certificate_pem", "text", (c) => c.notNull())
        .addColumn("private_key_pem", "text", (c) => c.notNull())
        .addColumn("created_at", pg ? "timestamptz" : "text", (c) => c.notNull());
      await (pg ? table : table.modifyEnd(sql`strict`)).execute();
    },
    async down(db: Kysely<unknown>) {
      await db.schema.dropTable("gateway_ca").execute();
      await db.schema.alterTable("servers").dropColumn("peer_addr").execute();
    },
  };
}
