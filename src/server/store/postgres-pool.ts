import type { PostgresPool, PostgresPoolClient, PostgresQueryResult } from "kysely";
import type { Logger } from "../../lib/logger.js";

export interface PostgresPoolOptions {
  readonly dsn: string;
  /** Longest wait for a connection (a new one or a free one from the pool). */
  readonly connectTimeoutMs: number;
  /** Longest wait for one query's answer, and the server-side `statement_timeout`. */
  readonly queryTimeoutMs: number;
  readonly logger: Logger;
}

/** pg's message when `query_timeout` passes (pg/lib/client.js). */
const READ_TIMEOUT_MESSAGE = "Query read timeout";

/**
 * pg's pool for Kysely, bounded in time everywhere: connecting, waiting for a free connection,
 * and each query. Without `query_timeout` a query on a connection whose network died silently
 * (no FIN, no RST) waits for TCP to give up, about 15 minutes; with it the query fails as
 * "unavailable" and that connection, whose answer may still be in the pipe, is closed instead
 * of going back to the pool. Parameters in the DSN (`?query_timeout=`, `statement_timeout=`)
 * take precedence over these defaults (pg merges the connection string last).
 */
export async function createPostgresPool(options: PostgresPoolOptions): Promise<PostgresPool> {
  // Loaded only for PostgreSQL, so that the embedded store does not carry the driver (docs/performance.md).
  const { default: pg } = await import("pg");
  const pool = new pg.Pool({
    connectionString: options.dsn,
    max: 10,
    connectionTimeoutMillis: options.connectTimeoutMs,
    query_timeout: options.queryTimeoutMs,
    statement_timeout: options.queryTimeoutMs,
  });
  // A client whose server goes away emits "error" (on the pool while idle, on the client while
  // checked out, in addition to failing its query); unhandled, that would end the process. The
  // query itself fails as "unavailable" and the next one opens a fresh connection.
  const onLost = (error: Error) => options.logger.warn({ err: error.message }, "PostgreSQL connection lost");
  pool.on("error", onLost);
  pool.on("connect", (client) => client.on("error", onLost));
  return {
    options: pool.options,
    async connect(): Promise<PostgresPoolClient> {
      const client = await pool.connect();
      let timedOut = false;
      return {
        query: <R>(sql: string, parameters: ReadonlyArray<unknown>): Promise<PostgresQueryResult<R>> =>
          client.query(sql, parameters as unknown[]).catch((error: unknown) => {
            if (error instanceof Error && error.message === READ_TIMEOUT_MESSAGE) timedOut = true;
            throw error;
          }) as Promise<PostgresQueryResult<R>>,
        release: (destroy?: boolean) => client.release(destroy === true || timedOut),
      } as PostgresPoolClient;
    },
    end: () => pool.end(),
  };
}
