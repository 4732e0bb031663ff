import { HopGateError } from "../../lib/hopgate-error.js";
import { parseStoredPolicy, type PolicyEntry, type StoredAccessPolicy } from "../access/stored-policy.js";
import type { Database } from "./database.js";
import { storeCall } from "./store-error.js";

/** Emitted after a policy change is committed; the server puts it in force at once. */
export interface AccessPolicyChange {
  readonly domain: string;
  /** The new policy; undefined when it was cleared. */
  readonly policy: StoredAccessPolicy | undefined;
}

/**
 * The visitor access policies of registered domains (column `domains.access_policy`). Errors
 * are HopGateErrors: "not_found" for an unregistered domain, "unavailable" when the store
 * cannot be reached. A stored policy that does not parse reads as "invalid" (nobody gets in).
 */
export interface AccessRepository {
  /** The policy of `domain`, undefined when it has none; "not_found" when it is not registered. */
  get(domain: string): Promise<PolicyEntry | undefined>;
  /** Replaces the policy of `domain` (already hashed: see toStoredPolicy). */
  put(domain: string, policy: StoredAccessPolicy): Promise<void>;
  /** Removes the policy of `domain`: every visitor gets in again. */
  clear(domain: string): Promise<void>;
  /** Every domain that has a policy, for the server's in-memory set. */
  all(): Promise<Map<string, PolicyEntry>>;
}

export function createAccessRepository(
  database: Database,
  options: { onChange?: (change: AccessPolicyChange) => void } = {},
): AccessRepository {
  const { db } = database;
  const write = async (domain: string, policy: StoredAccessPolicy | undefined, action: string) => {
    await storeCall(action, async () => {
      const result = await db
        .updateTable("domains")
        .set({
          access_policy: policy === undefined ? null : JSON.stringify(policy),
          updated_at: new Date().toISOString(),
        })
        .where("domain", "=", domain)
        .executeTakeFirst();
      if (result.numUpdatedRows === 0n)
        throw new HopGateError("not_found", `domain ${domain} is not registered`);
    });
    options.onChange?.({ domain, policy });
  };

  return {
    get: (domain) =>
      storeCall("get access policy", async () => {
        const row = await db
          .selectFrom("domains")
          .select("access_policy")
          .where("domain", "=", domain)
          .executeTakeFirst();
        if (!row) throw new HopGateError("not_found", `domain ${domain} is not registered`);
        return row.access_policy === null ? undefined : parseStoredPolicy(row.access_policy);
      }),
    put: (domain, policy) => write(domain, policy, "put access policy"),
    clear: (domain) => write(domain, undefined, "clear access policy"),
    all: () =>
      storeCall("list access policies", async () => {
        const rows = await db
          .selectFrom("domains")
          .select(["domain", "access_policy"])
          .where("access_policy", "is not", null)
          .execute();
        return new Map(rows.map((row) => [row.domain, parseStoredPolicy(row.access_policy ?? "")]));
      }),
  };
}
