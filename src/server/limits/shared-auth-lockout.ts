import { sql } from "kysely";
import type { Logger } from "../../lib/logger.js";
import type { Database } from "../store/database.js";
import { storeNowMs } from "../store/store-clock.js";
import { addressKey } from "./address-key.js";
import type { AuthFailureLimiter, AuthLimiter } from "./auth-failure-limiter.js";

export interface SharedAuthLockoutOptions {
  /** This server's own limiter: asked first, and the only judge while the store is away. */
  readonly local: AuthFailureLimiter;
  readonly database: Database;
  readonly maxFailures: number;
  readonly windowMs: number;
  readonly blockMs: number;
  readonly logger: Logger;
  /** Told once per block this server set in the store (the local limiter reports its own). */
  readonly onBlocked?: (addressKey: string, blockMs: number) => void;
}

export interface SharedAuthLockout extends AuthLimiter {
  /** Re-reads the blocks in force from the store (on a change signal; coalesced by the caller). */
  reloadBlocks(): Promise<void>;
  stop(): void;
}

/** Blocks kept from the store at most; past it the store's longest-lasting ones are kept. */
const MAX_STORED_BLOCKS = 50_000;
/** Expired rows are deleted this often by each server. */
const SWEEP_INTERVAL_MS = 60_000;
/** Blocks are re-read this often even without a change signal (the safety net). */
const RELOAD_INTERVAL_MS = 30_000;

/**
 * The failed-authentication lockout of a gateway of several servers on one store (docs/security.md):
 * every failure is counted in `auth_failures` as well as by the local limiter, so that guesses
 * spread over several servers add up; the server whose count reaches `maxFailures` sets the block
 * there, the store signals it (store-changes.ts), and every server re-reads the blocks in force
 * and refuses the address until the block ends. Best effort by construction: `retryAfterMs` never
 * waits for the store (a map lookup); a failed write is logged once per outage and leaves the
 * local limiter to decide; a block only ever comes from a count, so an outage never blocks anyone.
 * The store's window is fixed (starts at the first failure), the local one sliding. Times are the
 * database's clock; a block read from the store is turned into this server's clock by its
 * remaining duration.
 */
export function createSharedAuthLockout(options: SharedAuthLockoutOptions): SharedAuthLockout {
  const { local, database, logger } = options;
  const { db } = database;
  const now = storeNowMs(database.dialect);
  const enabled = options.maxFailures > 0;
  /** Address key → this server's Date.now() at which the block read from the store ends. */
  let blocks = new Map<string, number>();
  let failing = false;

  const storeFailed = (error: unknown, action: string) => {
    if (!failing)
      logger.warn(
        { err: (error as Error).message, action },
        "shared auth lockout: store unavailable; local limiter only",
      );
    failing = true;
  };
  const storeAnswered = () => {
    if (failing) logger.info("shared auth lockout: store available again");
    failing = false;
  };

  const count = async (key: string) => {
    const { windowMs, blockMs, maxFailures } = options;
    await db
      .insertInto("auth_failures")
      .values({ address_key: key, failures: 1, window_started_ms: now, blocked_until_ms: 0 })
      .onConflict((c) =>
        c.column("address_key").doUpdateSet({
          failures: sql<number>`case
            when auth_failures.blocked_until_ms > ${now} then auth_failures.failures
            when auth_failures.window_started_ms <= ${now} - ${windowMs} then 1
            else auth_failures.failures + 1 end`,
          window_started_ms: sql<number>`case
            when auth_failures.blocked_until_ms <= ${now} and auth_failures.window_started_ms <= ${now} - ${windowMs}
            then ${now} else auth_failures.window_started_ms end`,
        }),
      )
      .execute();
    // Only one server sets a block: the condition is checked again on the row it updates.
    const blocked = await db
      .updateTable("auth_failures")
      .set({ blocked_until_ms: sql<number>`${now} + ${blockMs}`, failures: 0, window_started_ms: now })
      .where("address_key", "=", key)
      .where("failures", ">=", maxFailures)
      .where("blocked_until_ms", "<=", now)
      .returning("address_key")
      .executeTakeFirst();
    if (blocked) {
      blocks.set(key, Date.now() + blockMs);
      options.onBlocked?.(key, blockMs);
    }
  };

  const sweep = setInterval(() => {
    db.deleteFrom("auth_failures")
      .where("blocked_until_ms", "<=", now)
      .where("window_started_ms", "<=", sql<number>`${now} - ${options.windowMs}`)
      .execute()
      .catch(() => {});
  }, SWEEP_INTERVAL_MS);
  sweep.unref();
  const reload = setInterval(() => void lockout.reloadBlocks(), RELOAD_INTERVAL_MS);
  reload.unref();

  const lockout: SharedAuthLockout = {
    retryAfterMs(remoteAddress) {
      const own = local.retryAfterMs(remoteAddress);
      if (!enabled || blocks.size === 0) return own;
      const until = blocks.get(addressKey(remoteAddress));
      return until === undefined ? own : Math.max(own, until - Date.now());
    },
    recordFailure(remoteAddress) {
      local.recordFailure(remoteAddress);
      if (!enabled) return;
      count(addressKey(remoteAddress)).then(storeAnswered, (error: unknown) => storeFailed(error, "count"));
    },
    async reloadBlocks() {
      if (!enabled) return;
      try {
        const rows = await db
          .selectFrom("auth_failures")
          .select(["address_key", sql<number>`blocked_until_ms - ${now}`.as("remaining_ms")])
          .where("blocked_until_ms", ">", now)
          .orderBy("blocked_until_ms", "desc")
          .limit(MAX_STORED_BLOCKS)
          .execute();
        const at = Date.now();
        blocks = new Map(rows.map((r) => [r.address_key, at + Number(r.remaining_ms)]));
        storeAnswered();
      } catch (error) {
        // The blocks known stay in force until they end.
        storeFailed(error, "read blocks");
      }
    },
    stop() {
      clearInterval(sweep);
      clearInterval(reload);
    },
  };
  return lockout;
}
