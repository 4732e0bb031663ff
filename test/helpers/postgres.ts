import { randomBytes } from "node:crypto";
import type { TestContext } from "node:test";
import pg from "pg";
import type { Cleanup } from "./store-backends.js";
import { startTcpProxy, type TcpProxy } from "./tcp-proxy.js";

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
}

/**
 * Creates `hopgate_t_<random>` on the server of HOPGATE_TEST_PG_DSN and drops it (terminating
 * leftover connections) when `owner` ends: a test's context, or a Cleanup where the drop must
 * keep its place among other clean-up work. Throws (so the test fails, never skips) when the
 * variable is set but the server does not answer.
 */
export async function createTestPgDatabase(owner: TestContext | Cleanup): Promise<TestPgDatabase> {
  const adminDsn = testPgDsn();
  if (!adminDsn) throw new Error(`${PG_DSN_VARIABLE} is not set`);
  const name = `hopgate_t_${randomBytes(6).toString("hex")}`;
  await withClient(adminDsn, (client) => client.query(`create database ${name}`));
  cleanupOf(owner)(() =>
    withClient(adminDsn, (client) => client.query(`drop database if exists ${name} with (force)`)),
  );
  const url = new URL(adminDsn);
  url.pathname = `/${name}`;
  return { dsn: url.toString() };
}

/**
 * `cut`, `stall`, `restore` and `openConnections` act on the way in of `cuttableDsn` (a TCP proxy),
 * as TcpProxy documents them; `dsn` is left alone.
 */
export interface CuttablePgDatabase extends Pick<TcpProxy, "cut" | "stall" | "restore" | "openConnections"> {
  /** DSN of a fresh database, reached directly: what the cut leaves alone. */
  readonly dsn: string;
  /** DSN of the same database through the TCP proxy. */
  readonly cuttableDsn: string;
}

/**
 * A fresh database (createTestPgDatabase) with a second way in that the test can cut off or
 * stall, for PostgreSQL outages; the database and the proxy go when `owner` ends.
 */
export async function cuttablePgDatabase(owner: TestContext | Cleanup): Promise<CuttablePgDatabase> {
  const cleanup = cleanupOf(owner);
  const database = await createTestPgDatabase(cleanup);
  const url = new URL(database.dsn);
  const proxy = await startTcpProxy({ host: url.hostname, port: Number(url.port || 5432) }, cleanup);
  url.host = `127.0.0.1:${proxy.port}`;
  return {
    dsn: database.dsn,
    cuttableDsn: url.toString(),
    cut: () => proxy.cut(),
    stall: () => proxy.stall(),
    restore: () => proxy.restore(),
    get openConnections() {
      return proxy.openConnections;
    },
  };
}

function cleanupOf(owner: TestContext | Cleanup): Cleanup {
  return typeof owner === "function" ? owner : (fn) => owner.after(fn);
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
