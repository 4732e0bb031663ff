import type { Database } from "../../store/database.js";
import { storeCall } from "../../store/store-error.js";
import type { SharedChallengeStore } from "./challenge-tokens.js";

/** More pending challenges than this means something is wrong; a read never returns more. */
const MAX_PENDING = 1_000;

/**
 * Pending HTTP-01 challenges in the table `acme_challenges` (migration 0006), PostgreSQL or
 * SQLite. Expiry instants are written and compared as ISO 8601 strings of the writer's clock: a
 * skew of seconds between servers does not matter for rows that live up to an hour.
 */
export function createKyselyChallengeStore(database: Database): SharedChallengeStore {
  const { db } = database;
  return {
    put: (token, keyAuthorization, expiresAtMs) =>
      storeCall("save ACME challenge", async () => {
        const expires_at = new Date(expiresAtMs).toISOString();
        await db.deleteFrom("acme_challenges").where("expires_at", "<", new Date().toISOString()).execute();
        await db
          .insertInto("acme_challenges")
          .values({ token, key_authorization: keyAuthorization, expires_at })
          .onConflict((conflict) =>
            conflict.column("token").doUpdateSet({ key_authorization: keyAuthorization, expires_at }),
          )
          .execute();
      }),
    remove: (token) =>
      storeCall("delete ACME challenge", async () => {
        await db.deleteFrom("acme_challenges").where("token", "=", token).execute();
      }),
    pending: (nowMs) =>
      storeCall("read ACME challenges", async () => {
        const rows = await db
          .selectFrom("acme_challenges")
          .select(["token", "key_authorization"])
          .where("expires_at", ">", new Date(nowMs).toISOString())
          .limit(MAX_PENDING)
          .execute();
        return new Map(rows.map((row) => [row.token, row.key_authorization]));
      }),
  };
}
