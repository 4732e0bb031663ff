import { randomUUID } from "node:crypto";
import { HopGateError } from "../../lib/hopgate-error.js";
import type { Database } from "./database.js";
import { toStoreError } from "./store-error.js";

export interface LeaseLockOptions {
  /** How long a holder that stopped renewing (killed) keeps the lock. Default 15 s. */
  readonly ttlMs?: number;
  /** Pause between tries while another holds it. Default 200 ms. */
  readonly retryMs?: number;
  /** Longest wait; then it fails ("unavailable"). Default: no limit. */
  readonly maxWaitMs?: number;
}

const DEFAULT_TTL_MS = 15_000;
const DEFAULT_RETRY_MS = 200;

/**
 * Runs `body` while holding the lock `name` for every process sharing the store, by a row of
 * `lock_leases` (migration 0006) that the holder renews every third of `ttlMs` and deletes at
 * the end. Meant for SQLite, whose processes share one host and so one clock; a killed holder's
 * lock is taken over once its lease expires (between 2/3 and 1 `ttlMs` after the kill). Every
 * statement is a single write, so SQLite's own locking makes it atomic.
 */
export async function withLeaseLock<T>(
  database: Database,
  name: string,
  body: () => Promise<T>,
  options: LeaseLockOptions = {},
): Promise<T> {
  const { db } = database;
  const ttlMs = options.ttlMs ?? DEFAULT_TTL_MS;
  const retryMs = options.retryMs ?? DEFAULT_RETRY_MS;
  const owner = randomUUID();
  const giveUpAtMs = Date.now() + (options.maxWaitMs ?? Number.POSITIVE_INFINITY);
  const expiry = () => new Date(Date.now() + ttlMs).toISOString();
  let acquired: boolean;
  try {
    for (;;) {
      await db
        .deleteFrom("lock_leases")
        .where("name", "=", name)
        .where("expires_at", "<", new Date().toISOString())
        .execute();
      await db
        .insertInto("lock_leases")
        .values({ name, owner, expires_at: expiry() })
        .onConflict((conflict) => conflict.column("name").doNothing())
        .execute();
      const row = await db
        .selectFrom("lock_leases")
        .select("owner")
        .where("name", "=", name)
        .executeTakeFirst();
      acquired = row?.owner === owner;
      if (acquired || Date.now() >= giveUpAtMs) break;
      await new Promise((resolve) => setTimeout(resolve, retryMs));
    }
  } catch (error) {
    throw toStoreError(error, `lock ${name}`);
  }
  if (!acquired) {
    throw new HopGateError("unavailable", `lock ${name} held by another process for too long`);
  }
  const renewal = setInterval(() => {
    db.updateTable("lock_leases")
      .set({ expires_at: expiry() })
      .where("name", "=", name)
      .where("owner", "=", owner)
      .execute()
      .catch(() => undefined); // the next renewal tries again; an expired lease is the worst case
  }, ttlMs / 3);
  try {
    return await body();
  } finally {
    clearInterval(renewal);
    await db
      .deleteFrom("lock_leases")
      .where("name", "=", name)
      .where("owner", "=", owner)
      .execute()
      .catch(() => undefined); // it expires on its own
  }
}
