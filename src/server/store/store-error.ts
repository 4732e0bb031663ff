import { HopGateError, isHopGateError } from "../../lib/hopgate-error.js";

/**
 * Turns a driver error into a HopGateError so that no raw pg or node:sqlite error leaves the
 * store. Outages (connection refused or lost, pool timeouts, locked or unreadable files) become
 * "unavailable"; anything else is a fault of ours and becomes "internal". The cause is kept.
 */
export function toStoreError(error: unknown, action: string): HopGateError {
  if (isHopGateError(error)) return error;
  const detail = error instanceof Error ? error.message : String(error);
  if (isOutage(error))
    return new HopGateError("unavailable", `store unavailable (${action}): ${detail}`, { cause: error });
  return new HopGateError("internal", `store failed (${action}): ${detail}`, { cause: error });
}

/** Runs one store action: any error `body` throws leaves as toStoreError's, naming `action`. */
export async function storeCall<T>(action: string, body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (error) {
    throw toStoreError(error, action);
  }
}

/** A UNIQUE or PRIMARY KEY violation on either backend. */
export function isUniqueViolation(error: unknown): boolean {
  const { code, errcode } = fields(error);
  // PostgreSQL SQLSTATE 23505 unique_violation; SQLite extended codes 2067 (UNIQUE), 1555 (PRIMARYKEY).
  return code === "23505" || errcode === 2067 || errcode === 1555;
}

// PostgreSQL SQLSTATE classes (Appendix A): 08 connection exception, 53 insufficient resources,
// 57 operator intervention (e.g. 57P01 admin shutdown), 58 system error.
const PG_OUTAGE_CLASSES = new Set(["08", "53", "57", "58"]);
// SQLite primary result codes: BUSY, LOCKED, NOMEM, READONLY, IOERR, CORRUPT, FULL, CANTOPEN, PROTOCOL, NOTADB.
const SQLITE_OUTAGE_CODES = new Set([5, 6, 7, 8, 10, 11, 13, 14, 15, 26]);

function isOutage(error: unknown): boolean {
  const { code, errcode } = fields(error);
  if (typeof errcode === "number") return SQLITE_OUTAGE_CODES.has(errcode & 0xff);
  // node:sqlite after close(); Kysely after destroy().
  if (code === "ERR_INVALID_STATE") return true;
  if (error instanceof Error && /driver has already been destroyed/.test(error.message)) return true;
  if (typeof code === "string" && /^[0-9A-Z]{5}$/.test(code)) return PG_OUTAGE_CLASSES.has(code.slice(0, 2));
  // Socket errors from Node (ECONNREFUSED, ECONNRESET, ETIMEDOUT, ENOTFOUND, ...).
  if (typeof code === "string" && /^E[A-Z]+$/.test(code)) return true;
  return error instanceof Error && PG_CONNECTION_MESSAGES.test(error.message);
}

// Messages pg uses for connection failures that carry no code ("Query read timeout": query_timeout).
const PG_CONNECTION_MESSAGES =
  /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Connection ended unexpectedly|Query read timeout/i;

function fields(error: unknown): { code?: unknown; errcode?: unknown } {
  return typeof error === "object" && error !== null ? error : {};
}
