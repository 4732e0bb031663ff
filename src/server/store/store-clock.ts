import { sql, type RawBuilder } from "kysely";
import type { StoreDialect } from "./schema.js";

/**
 * The database's clock as epoch milliseconds, for state several servers share: every server
 * compares times against the same clock, never its own (no two servers' clocks are compared).
 */
export function storeNowMs(dialect: StoreDialect): RawBuilder<number> {
  return dialect === "postgres"
    ? sql<number>`(extract(epoch from clock_timestamp()) * 1000)::double precision`
    : sql<number>`((julianday('now') - 2440587.5) * 86400000.0)`;
}
