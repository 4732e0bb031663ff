import { sql, type Kysely } from "kysely";
import type { Migration } from "kysely/migration";
import type { StoreDialect } from "../schema.js";

/** The store-change topic of a certificate written (src/server/cluster/store-changes.ts). */
export const CERTIFICATES_TOPIC = "certificates";

/**
 * A certificate stored (ordered or renewed) is signalled like a domain change (migration 0007),
 * so that every server of the gateway serves it within about a second (docs/scale-out.md,
 * "Shared certificates"): on PostgreSQL `NOTIFY hopgate_store_changed, 'certificates'` at commit
 * of an insert or update of `certificates`; on SQLite a bump of its counter in `store_versions`.
 * A deletion is not signalled: it follows a domain's removal, which has its own topic.
 */
export function certificateChangesMigration(dialect: StoreDialect): Migration {
  return {
    async up(db: Kysely<unknown>) {
      if (dialect === "postgres") {
        await sql`create trigger certificates_changed after insert or update on certificates
          for each statement execute function hopgate_store_changed(${sql.lit(CERTIFICATES_TOPIC)})`.execute(
          db,
        );
        return;
      }
      await sql`insert into store_versions (topic, version) values (${CERTIFICATES_TOPIC}, 0)`.execute(db);
      for (const event of ["insert", "update"])
        await sql`create trigger ${sql.raw(`certificates_changed_${event}`)} after ${sql.raw(event)}
          on certificates begin
          update store_versions set version = version + 1 where topic = ${sql.lit(CERTIFICATES_TOPIC)};
          end`.execute(db);
    },
    async down(db: Kysely<unknown>) {
      if (dialect === "postgres") {
        await sql`drop trigger if exists certificates_changed on certificates`.execute(db);
        return;
      }
      for (const event of ["insert", "update"])
        await sql`drop trigger if exists ${sql.raw(`certificates_changed_${event}`)}`.execute(db);
      await sql`delete from store_versions where topic = ${CERTIFICATES_TOPIC}`.execute(db);
    },
  };
}
