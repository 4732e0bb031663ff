import { randomBytes } from "node:crypto";
import pg from "pg";

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

async function withClient<T>(dsn: string, body: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: dsn, connectionTimeoutMillis: 10_000 });
  await client.connect();
  try {
    return await body(client);
  } finally {
    await client.end();
  }
}
