import type { Kysely } from "kysely";
import type { Migration } from "kysely/migration";

/**
 * The visitor access policy of each domain (docs/access.md): one nullable JSON text column on
 * `domains`, so that a policy lives and dies with its domain. It holds scrypt hashes and a
 * SHA-256 digest, never a password or secret in clear. Text (not jsonb) on both backends: the
 * server reads the whole policy and validates it itself.
 */
export function accessPoliciesMigration(): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable("domains").addColumn("access_policy", "text").execute();
    },
    async down(db: Kysely<unknown>) {
      await db.schema.alterTable("domains").dropColumn("access_policy").execute();
    },
  };
}
