import type { DatabaseSync } from "node:sqlite";
import {
  CompiledQuery,
  SqliteAdapter,
  SqliteDialect,
  SqliteDriver,
  type DatabaseConnection,
  type DialectAdapter,
  type Driver,
  type SqliteDatabase,
  type SqliteStatement,
} from "kysely";

/**
 * Kysely's SqliteDialect over Node's built-in `node:sqlite` (no native addon to compile), with
 * two changes that make several processes on one database file safe:
 *
 * - Transactions start with `BEGIN IMMEDIATE`, which takes SQLite's write lock up front and waits
 *   for it up to busy_timeout. A plain (deferred) `BEGIN` that reads first and writes later gets
 *   SQLITE_BUSY at once in WAL mode when another process committed in between (the busy handler
 *   is not called for a stale snapshot: https://sqlite.org/wal.html#busy), so it cannot be a lock.
 * - The adapter reports transactional DDL (SQLite has it), so Kysely's Migrator runs the pending
 *   migrations, and its check of which ones already ran, inside one such transaction. That
 *   transaction is the migration lock: a second process waits on it, then finds nothing to do.
 */
export function createNodeSqliteDialect(database: DatabaseSync): NodeSqliteDialect {
  return new NodeSqliteDialect({ database: wrapDatabase(database) });
}

class NodeSqliteDialect extends SqliteDialect {
  readonly #database: SqliteDatabase;

  constructor(config: { database: SqliteDatabase }) {
    super(config);
    this.#database = config.database;
  }

  override createDriver(): Driver {
    return new ImmediateTransactionDriver({ database: this.#database });
  }

  override createAdapter(): DialectAdapter {
    return new TransactionalDdlSqliteAdapter();
  }
}

class ImmediateTransactionDriver extends SqliteDriver {
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw("begin immediate"));
  }
}

class TransactionalDdlSqliteAdapter extends SqliteAdapter {
  override get supportsTransactionalDdl(): boolean {
    return true;
  }

  override async acquireMigrationLock(): Promise<void> {
    // The lock is the IMMEDIATE transaction the Migrator opens right after this call (see above).
  }

  override async releaseMigrationLock(): Promise<void> {
    // Released by that transaction's commit or rollback.
  }
}

/** The subset of better-sqlite3's interface that Kysely calls, on top of `DatabaseSync`. */
function wrapDatabase(database: DatabaseSync): SqliteDatabase {
  return {
    close: () => database.close(),
    prepare(sqlText: string): SqliteStatement {
      const statement = database.prepare(sqlText);
      type Params = Parameters<typeof statement.all>;
      return {
        reader: statement.columns().length > 0,
        all: (parameters) => statement.all(...(parameters as Params)),
        run: (parameters) => statement.run(...(parameters as Params)),
        iterate: (parameters) => statement.iterate(...(parameters as Params)),
      };
    },
  };
}
