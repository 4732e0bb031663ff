import type { Selectable } from "kysely";
import type { DomainsTable } from "./schema.js";

/** A registered domain as the rest of HopGate sees it; the key digest never leaves the store. */
export interface DomainRecord {
  readonly id: string;
  readonly domain: string;
  readonly memo: string;
  /** ISO 8601 (UTC, milliseconds). */
  readonly createdAt: string;
  readonly updatedAt: string;
}

export type DomainRow = Pick<
  Selectable<DomainsTable>,
  "id" | "domain" | "memo" | "created_at" | "updated_at"
>;

/** The one place where backend-specific values become domain types (see schema.ts). */
export function toDomainRecord(row: DomainRow): DomainRecord {
  return {
    id: String(row.id),
    domain: row.domain,
    memo: row.memo,
    createdAt: toIsoTimestamp(row.created_at),
    updatedAt: toIsoTimestamp(row.updated_at),
  };
}

/** PostgreSQL timestamptz arrives as Date, SQLite text as the ISO string that was written. */
export function toIsoTimestamp(value: Date | string): string {
  return (value instanceof Date ? value : new Date(value)).toISOString();
}
