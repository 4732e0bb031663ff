import { randomBytes } from "node:crypto";
import type { TestContext } from "node:test";
import pg from "pg";
import { startTcpProxy } from "./tcp-proxy.js";

/** Set by CI; PostgreSQL suites run only when it is set, and then must not skip. */
export const PG_DSN_VARIABLE = "HOPGATE_TEST_PG_DSN";

export function testPgDsn(): string | undefined {
  return process.env[PG_DSN_VARIABLE] || undefined;
}

/** Skip reason for PostgreSQL suites, or false when they run. */
export function pgSkip(): string | false {
  return testPgDsn() ? false : `${PG_DSN_VARIABLE} is not set`;
}

export interface TestPgDatabase {
  /** DSN of a fresh, uniquely named database. */
  readonly dsn: string;
  /** Drops the database, terminating leftover connections. */
  drop(): Promise<void>;
}

/**
 * Creates `hopgate_t_<random>` on the server of HOPGATE_TEST_PG_DSN. Throws (so the test fails,
 * never skips) when the variable is set but the server does not answer.
 */
export async function createTestPgDatabase(): Promise<TestPgDatabase> {
  const adminDsn = testPgDsn();
  if (!adminDsn) throw new Error(`${PG_DSN_VARIABLE} is not set`);
  const name = `hopgate_t_${randomBytes(6).toString("hex")}`;
  await withClient(adminDsn, (client) => client.query(`create database ${name}`));
  const url = new URL(adminDsn);
  url.pathname = `/${name}`;
  return {
    dsn: url.toString(),
    drop: async () => {
      await withClient(adminDsn, (client) => client.query(`drop database if exists ${name} with (force)`));
    },
  };
}

export interface CuttablePgDatabase {
  /** DSN of a fresh database, reached directly: what the cut leaves alone. */
  readonly dsn: string;
  /** DSN of the same database through a TCP proxy that `cut` takes away. */
  readonly cuttableDsn: string;
  /** Closes every connection made through `cuttableDsn` and refuses new ones: PostgreSQL gone. */
  cut(): Promise<void>;
  /** Accepts connections through `cuttableDsn` again, on the same port. */
  restore(): Promise<void>;
}

/**
 * A fresh database (createTestPgDatabase) with a second way in that the test can cut off, for
 * PostgreSQL outages; the database and the proxy go when `t` ends.
 */
export async function cuttablePgDatabase(t: TestContext): Promise<CuttablePgDatabase> {
  const database = await createTestPgDatabase();
  t.after(() => database.drop());
  const url = new URL(database.dsn);
  const proxy = await startTcpProxy({ host: url.hostname, port: Number(url.port || 5432) }, (fn) =>
    t.after(fn),
  );
  url.host = `127.0.0.1:${proxy.port}`;
  return {
    dsn: database.dsn,
    cuttableDsn: url.toString(),
    cut: () => proxy.cut(),
    restore: () => proxy.restore(),
  };
}

async function withClient<T>(dsn: string, body: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: dsn, connectionTimeoutMillis: 10_000 });
  await client.connect();
  try {
    return await body(client);
  } finally {
    await client.end();
  }
}
