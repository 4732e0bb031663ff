import type { Kysely } from "kysely";
import { Migrator, type Migration } from "kysely/migration";
import type { Logger } from "../../lib/logger.js";
import { toStoreError } from "./store-error.js";

/**
 * Applies every pending migration through Kysely's Migrator (static provider, no directory
 * scanning). Idempotent; safe when several processes start at once: PostgreSQL serializes them
 * with Kysely's advisory lock, SQLite with an IMMEDIATE transaction (see sqlite-dialect.ts).
 */
export async function migrateToLatest(
  db: Kysely<unknown>,
  migrations: Record<string, Migration>,
  logger: Logger,
): Promise<void> {
  const migrator = new Migrator({
    db,
    provider: { getMigrations: () => Promise.resolve(migrations) },
  });
  const { error, results = [] } = await migrator.migrateToLatest();
  for (const result of results) {
    logger.info({ migration: result.migrationName, status: result.status }, "store migration");
  }
  if (error !== undefined) {
    const failed = results.find((result) => result.status === "Error")?.migrationName;
    throw toStoreError(error, failed ? `migration ${failed}` : "migrations");
  }
}
