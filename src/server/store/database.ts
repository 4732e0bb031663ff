import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { Kysely, PostgresDialect, sql } from "kysely";
import { HopGateError } from "../../lib/hopgate-error.js";
import type { Logger } from "../../lib/logger.js";
import { maskDsn } from "../../lib/secret.js";
import { storeMigrations } from "./migrations/index.js";
import { migrateToLatest } from "./migrator.js";
import { createPostgresPool } from "./postgres-pool.js";
import type { StoreDialect, StoreSchema } from "./schema.js";
import { createNodeSqliteDialect } from "./sqlite-dialect.js";
import { prepareStoreFile } from "./store-file-modes.js";
import { toStoreError } from "./store-error.js";

/** The open store: one typed query layer (Kysely) over PostgreSQL or embedded SQLite. */
export interface Database {
  readonly db: Kysely<StoreSchema>;
  readonly dialect: StoreDialect;
  /** Resolves when the store answers a trivial query; throws HopGateError "unavailable" otherwise. */
  ping(): Promise<void>;
  /** Closes the pool or file; idempotent. */
  close(): Promise<void>;
}

export interface OpenDatabaseOptions {
  /** `postgres://...` selects PostgreSQL; unset selects SQLite in `dataDir`. */
  readonly dsn?: string;
  /** Directory of the embedded SQLite file `hopgate.sqlite`; created 0700 (the file 0600) when missing. */
  readonly dataDir: string;
  readonly logger: Logger;
  /** How long a statement waits for another process's lock (SQLite) or a connection (PostgreSQL). */
  readonly busyTimeoutMs?: number;
  /** PostgreSQL: longest wait for one query's answer before it fails as "unavailable". */
  readonly queryTimeoutMs?: number;
}

export const SQLITE_FILE_NAME = "hopgate.sqlite";
const DEFAULT_BUSY_TIMEOUT_MS = 10_000;
// The store's queries are single-row lookups and small writes: an answer slower than this means
// a dead connection or a stuck server, not a slow query.
const DEFAULT_QUERY_TIMEOUT_MS = 5_000;

/** Opens the store and applies pending migrations before returning it. */
export async function openDatabase(options: OpenDatabaseOptions): Promise<Database> {
  const logger = options.logger.child({ component: "store" });
  const busyTimeoutMs = options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS;
  const dialect: StoreDialect = options.dsn ? "postgres" : "sqlite";
  const location = options.dsn ? maskDsn(options.dsn) : join(options.dataDir, SQLITE_FILE_NAME);
  const db = options.dsn
    ? new Kysely<StoreSchema>({
        dialect: new PostgresDialect({
          pool: await createPostgresPool({
            dsn: options.dsn,
            connectTimeoutMs: busyTimeoutMs,
            queryTimeoutMs: options.queryTimeoutMs ?? DEFAULT_QUERY_TIMEOUT_MS,
            logger,
          }),
        }),
      })
    : await openSqlite(options.dataDir, busyTimeoutMs, logger);
  try {
    await migrateToLatest(db as Kysely<unknown>, storeMigrations(dialect), logger);
  } catch (error) {
    await db.destroy();
    const failure = toStoreError(error, "open");
    throw new HopGateError(failure.code, `cannot open the store at ${location}: ${failure.message}`, {
      cause: failure.cause ?? error,
    });
  }
  logger.info({ dialect, location }, "store ready");
  return {
    db,
    dialect,
    async ping() {
      try {
        await sql`select 1`.execute(db);
      } catch (error) {
        throw toStoreError(error, "ping");
      }
    },
    close: () => db.destroy(),
  };
}

async function openSqlite(
  dataDir: string,
  busyTimeoutMs: number,
  logger: Logger,
): Promise<Kysely<StoreSchema>> {
  const path = join(dataDir, SQLITE_FILE_NAME);
  let database: DatabaseSync;
  try {
    await prepareStoreFile(dataDir, path, logger);
    // `timeout` is SQLite's busy_timeout: a locked database is retried this long before SQLITE_BUSY.
    database = new DatabaseSync(path, { timeout: busyTimeoutMs });
  } catch (error) {
    throw new HopGateError("unavailable", `cannot open SQLite store ${path}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  try {
    // WAL lets readers proceed while one writer commits (https://sqlite.org/wal.html).
    database.exec("pragma journal_mode = wal");
  } catch (error) {
    database.close();
    throw toStoreError(error, `open ${path}`);
  }
  return new Kysely<StoreSchema>({ dialect: createNodeSqliteDialect(database) });
}
