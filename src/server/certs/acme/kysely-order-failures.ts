import { sql } from "kysely";
import type { Database } from "../../store/database.js";
import { storeNowMs } from "../../store/store-clock.js";
import { storeCall } from "../../store/store-error.js";
import type { OrderFailure, OrderFailures } from "./certificate-store.js";

const HOUR_MS = 3_600_000;
/** A domain nobody ordered for a day (no failure since) loses even its latest row. */
const FORGET_AFTER_MS = 24 * HOUR_MS;
/** Bounds what a CA's error text costs in the store. */
const MAX_REASON_CHARS = 2_000;

export interface KyselyOrderFailures {
  readonly orderFailures: (domain: string) => Promise<OrderFailures | undefined>;
  readonly recordOrderFailure: (domain: string, failure: OrderFailure) => Promise<void>;
  readonly retryOrderNow: (domain: string) => Promise<void>;
  /** Not a store call of its own: part of saving or deleting a certificate. */
  readonly clearOrderFailures: (domain: string) => Promise<void>;
}

/**
 * Failed orders in `acme_failures` (migration 0009), shared by the servers of a gateway so that
 * the CA's failed-validation limit and the backoff count for the gateway (docs/certificates.md,
 * "Failures"). Times are written and compared on the database's clock and handed to callers as
 * offsets from their own clock, so no two servers' clocks are compared. A domain keeps its rows
 * of the last hour (the hourly limit) and always its latest one (the consecutive count and the
 * next retry), until a certificate is stored.
 */
export function createKyselyOrderFailures(database: Database): KyselyOrderFailures {
  const { db, dialect } = database;
  const now = storeNowMs(dialect);
  return {
    orderFailures: (domain) =>
      storeCall("load ACME order failures", async () => {
        const rows = await db
          .selectFrom("acme_failures")
          .select(["failures", "reason"])
          .select((eb) => [
            eb(now, "-", eb.ref("failed_ms")).as("age_ms"),
            eb(eb.ref("next_retry_ms"), "-", now).as("retry_in_ms"),
          ])
          .where("domain", "=", domain)
          .orderBy("failures")
          .execute();
        const latest = rows.at(-1);
        if (!latest) return undefined;
        const localNowMs = Date.now();
        return {
          reason: latest.reason,
          count: Number(latest.failures),
          recentMs: rows
            .filter((row) => Number(row.age_ms) < HOUR_MS)
            .map((row) => localNowMs - Number(row.age_ms)),
          nextRetryMs: localNowMs + Number(latest.retry_in_ms),
        };
      }),
    recordOrderFailure: (domain, failure) =>
      storeCall("record ACME order failure", async () => {
        const values = {
          failed_ms: now,
          next_retry_ms: sql<number>`${now} + ${Math.round(failure.retryInMs)}`,
          reason: failure.reason.slice(0, MAX_REASON_CHARS),
        };
        await db
          .insertInto("acme_failures")
          .values({ domain, failures: failure.count, ...values })
          .onConflict((conflict) => conflict.columns(["domain", "failures"]).doUpdateSet(values))
          .execute();
        await db
          .deleteFrom("acme_failures")
          .where((eb) =>
            eb.or([
              eb.and([
                eb("domain", "=", domain),
                eb("failures", "<", failure.count),
                eb("failed_ms", "<", eb(now, "-", HOUR_MS)),
              ]),
              eb("failed_ms", "<", eb(now, "-", FORGET_AFTER_MS)),
            ]),
          )
          .execute();
      }),
    retryOrderNow: (domain) =>
      storeCall("reset ACME order backoff", async () => {
        await db
          .updateTable("acme_failures")
          .set({ next_retry_ms: now })
          .where("domain", "=", domain)
          .where("next_retry_ms", ">", now)
          .execute();
      }),
    clearOrderFailures: async (domain) => {
      await db.deleteFrom("acme_failures").where("domain", "=", domain).execute();
    },
  };
}
