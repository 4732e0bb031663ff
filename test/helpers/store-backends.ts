import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after } from "node:test";
import { silentLogger } from "../../src/lib/logger.js";
import { openDatabase, type Database } from "../../src/server/store/database.js";
import { createTestPgDatabase, pgSkip } from "./postgres.js";

/** Registers clean-up work: `(fn) => t.after(fn)` in a test, node:test's `after` in a suite. */
export type Cleanup = (fn: () => unknown) => void;

/**
 * A Cleanup for a whole `describe` block; call it in the block's body (not in a hook). Work runs
 * after the block's last test, newest first (the store closes before its database is dropped).
 */
export function suiteCleanup(): Cleanup {
  const work: Array<() => unknown> = [];
  after(async () => {
    for (const fn of work.reverse()) await fn();
  });
  return (fn) => work.push(fn);
}

/** Where a test store lives: a fresh SQLite directory or a fresh PostgreSQL database. */
export interface StoreLocation {
  readonly dsn?: string;
  readonly dataDir: string;
}

export interface StoreBackend {
  readonly name: "sqlite" | "postgres";
  /** Skip reason for `describe(..., { skip })`: PostgreSQL only runs with HOPGATE_TEST_PG_DSN. */
  readonly skip: string | false;
  /** A fresh, empty location, removed by `cleanup`. */
  location(cleanup: Cleanup): Promise<StoreLocation>;
}

export const storeBackends: readonly StoreBackend[] = [
  { name: "sqlite", skip: false, location: async (cleanup) => ({ dataDir: await scratchDir(cleanup) }) },
  {
    name: "postgres",
    skip: pgSkip(),
    location: async (cleanup) => {
      const database = await createTestPgDatabase(cleanup);
      return { dsn: database.dsn, dataDir: await scratchDir(cleanup) };
    },
  },
];

/** Opens (and migrates) the store at `location`; closed by `cleanup`. */
export async function openTestDatabase(
  cleanup: Cleanup,
  location: StoreLocation,
  options: { busyTimeoutMs?: number } = {},
): Promise<Database> {
  const database = await openDatabase({ ...location, logger: silentLogger(), ...options });
  cleanup(() => database.close());
  return database;
}

async function scratchDir(cleanup: Cleanup): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "hopgate-store-"));
  cleanup(() => rm(dir, { recursive: true, force: true }));
  return dir;
}
