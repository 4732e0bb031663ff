import { sql, type Kysely } from "kysely";
import type { Migration } from "kysely/migration";
import type { StoreDialect } from "../schema.js";

/** The channel of PostgreSQL's NOTIFY for store changes; the payload is the topic. */
export const STORE_CHANGED_CHANNEL = "hopgate_store_changed";
/**
 * Topics of store changes that this migration signals; later migrations add topics of their own
 * (src/server/cluster/store-changes.ts lists them all). Fixed: the migration inserts these rows.
 */
export const SHARED_STATE_TOPICS = ["domains", "auth_blocks"] as const;

/**
 * State that several servers on one store share (docs/scale-out.md, "Shared state"):
 *
 * - change signals: on PostgreSQL a trigger sends `NOTIFY hopgate_store_changed, '<topic>'`
 *   when `domains` changes (any writer, delivered at commit) and when an address is blocked in
 *   `auth_failures`; on SQLite, which has no NOTIFY, the same triggers bump a counter per topic
 *   in `store_versions`, which servers poll;
 * - `auth_failures`: failed authentications per address key, counted by every server, with a
 *   block time; times are epoch milliseconds on the database's clock;
 * - `subdomain_labels`: which client instance (holder) holds a label under a wildcard, one row
 *   per server that holds it (the same instance may hold it on several servers).
 */
export function sharedStateMigration(dialect: StoreDialect): Migration {
  const pg = dialect === "postgres";
  const strict = <T extends { modifyEnd(modifier: ReturnType<typeof sql>): T }>(table: T): T =>
    pg ? table : table.modifyEnd(sql`strict`);
  const ms = pg ? "double precision" : "real";
  return {
    async up(db: Kysely<unknown>) {
      await strict(
        db.schema
          .createTable("store_versions")
          .addColumn("topic", "text", (c) => c.primaryKey().notNull())
          .addColumn("version", "integer", (c) => c.notNull()),
      ).execute();
      for (const topic of SHARED_STATE_TOPICS)
        await sql`insert into store_versions (topic, version) values (${topic}, 0)`.execute(db);
      await strict(
        db.schema
          .createTable("auth_failures")
          .addColumn("address_key", "text", (c) => c.primaryKey().notNull())
          .addColumn("failures", "integer", (c) => c.notNull())
          .addColumn("window_started_ms", ms, (c) => c.notNull())
          .addColumn("blocked_until_ms", ms, (c) => c.notNull()),
      ).execute();
      await db.schema
        .createIndex("auth_failures_blocked")
        .on("auth_failures")
        .column("blocked_until_ms")
        .execute();
      await strict(
        db.schema
          .createTable("subdomain_labels")
          .addColumn("hostname", pg ? sql`varchar(253) collate "C"` : "text", (c) => c.notNull())
          .addColumn("server_id", "text", (c) => c.notNull())
          .addColumn("pattern", pg ? sql`varchar(253) collate "C"` : "text", (c) => c.notNull())
          .addColumn("holder", "text", (c) => c.notNull())
          .addColumn("claimed_ms", ms, (c) => c.notNull())
          .addPrimaryKeyConstraint("subdomain_labels_pkey", ["hostname", "server_id"]),
      ).execute();
      await db.schema
        .createIndex("subdomain_labels_pattern")
        .on("subdomain_labels")
        .column("pattern")
        .execute();
      if (pg) {
        await sql`create function hopgate_store_changed() returns trigger language plpgsql as $$
          begin perform pg_notify(${sql.lit(STORE_CHANGED_CHANNEL)}, tg_argv[0]); return null; end $$`.execute(
          db,
        );
        await sql`create trigger domains_changed after insert or update or delete on domains
          for each statement execute function hopgate_store_changed('domains')`.execute(db);
        await sql`create trigger auth_blocks_changed after update of blocked_until_ms on auth_failures
          for each row when (new.blocked_until_ms > old.blocked_until_ms)
          execute function hopgate_store_changed('auth_blocks')`.execute(db);
      } else {
        const bump = (topic: string) =>
          sql.raw(`update store_versions set version = version + 1 where topic = '${topic}';`);
        for (const event of ["insert", "update", "delete"])
          await sql`create trigger ${sql.raw(`domains_changed_${event}`)} after ${sql.raw(event)} on domains
            begin ${bump("domains")} end`.execute(db);
        await sql`create trigger auth_blocks_changed after update of blocked_until_ms on auth_failures
          when new.blocked_until_ms > old.blocked_until_ms begin ${bump("auth_blocks")} end`.execute(db);
      }
    },
    async down(db: Kysely<unknown>) {
      if (pg) {
        await sql`drop trigger if exists domains_changed on domains`.execute(db);
        await sql`drop trigger if exists auth_blocks_changed on auth_failures`.execute(db);
        await sql`drop function if exists hopgate_store_changed()`.execute(db);
      } else {
        for (const event of ["insert", "update", "delete"])
          await sql`drop trigger if exists ${sql.raw(`domains_changed_${event}`)}`.execute(db);
      }
      await db.schema.dropTable("subdomain_labels").execute();
      await db.schema.dropTable("auth_failures").execute();
      await db.schema.dropTable("store_versions").execute();
    },
  };
}
