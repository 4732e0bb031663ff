import { randomUUID } from "node:crypto";
import { apiKeyMatchesDigest, digestApiKey, generateApiKey } from "../../lib/api-key.js";
import { HopGateError } from "../../lib/hopgate-error.js";
import type { StoredDomain } from "../registered-domains.js";
import type { Database } from "./database.js";
import { toDomainRecord, type DomainRecord } from "./domain-record.js";
import { isUniqueViolation, storeCall } from "./store-error.js";

export type { DomainRecord } from "./domain-record.js";

/** Emitted after a change is committed; the server updates routing and closes sessions on it. */
export interface DomainChange {
  readonly type: "registered" | "unregistered" | "key_rotated";
  readonly domain: string;
}

export interface DomainPage {
  readonly items: DomainRecord[];
  /** Pass as `after` to get the next page; absent on the last page. */
  readonly next?: string;
}

/**
 * Registered domains and their client API keys. Domains are expected normalized by the caller
 * (src/lib/domain-name.ts); every query is parameterized regardless. Errors are HopGateErrors:
 * "conflict", "not_found", "forbidden", and "unavailable" when the store cannot be reached.
 */
export interface DomainRepository {
  /** Registers `domain` and returns its new client API key (shown once; only its digest is kept). */
  register(domain: string, memo: string): Promise<{ record: DomainRecord; clientApiKey: string }>;
  /** Deletes `domain` if `clientApiKey` is its key: "not_found", or "forbidden" (the row stays). */
  unregister(domain: string, clientApiKey: string): Promise<void>;
  /** Deletes `domain` without its key (administrator action): "not_found" when unknown. */
  revoke(domain: string): Promise<void>;
  /** Replaces the key of `domain` and returns the new one; the old one stops working at once. */
  rotateKey(domain: string): Promise<string>;
  find(domain: string): Promise<DomainRecord | undefined>;
  /** Domains in byte order of their names, `limit` at a time, starting after `after`. */
  list(page: { limit: number; after?: string }): Promise<DomainPage>;
  /** The record when `clientApiKey` is the key of `domain`; compares digests in constant time. */
  authenticate(domain: string, clientApiKey: string): Promise<DomainRecord | undefined>;
  /**
   * The wildcard pattern (`*.base`) whose key is `clientApiKey`, for `--domain auto`: reads the
   * wildcard rows only (a range of the unique index) and compares every digest in constant time.
   */
  findWildcardByKey(clientApiKey: string): Promise<string | undefined>;
  /** Every registered domain name, for the server's in-memory routing set. */
  allDomains(): Promise<string[]>;
  /** Every registered domain with the digest of its key, to tell key rotations made elsewhere. */
  allDomainKeys(): Promise<StoredDomain[]>;
}

const RECORD_COLUMNS = ["id", "domain", "memo", "created_at", "updated_at"] as const;
// Compared against when a domain is unknown, so that a miss costs what a hit costs.
const ABSENT_DIGEST = digestApiKey("");

export function createDomainRepository(
  database: Database,
  options: { onChange?: (event: DomainChange) => void } = {},
): DomainRepository {
  const { db } = database;
  const notify = (type: DomainChange["type"], domain: string) => options.onChange?.({ type, domain });
  const findRow = (domain: string) =>
    db
      .selectFrom("domains")
      .select([...RECORD_COLUMNS, "client_api_key"])
      .where("domain", "=", domain)
      .executeTakeFirst();

  return {
    async register(domain, memo) {
      const clientApiKey = generateApiKey();
      const now = new Date().toISOString();
      const row = { id: randomUUID(), domain, memo, created_at: now, updated_at: now };
      await storeCall("register", async () => {
        try {
          await db
            .insertInto("domains")
            .values({ ...row, client_api_key: digestApiKey(clientApiKey) })
            .execute();
        } catch (error) {
          if (isUniqueViolation(error)) {
            throw new HopGateError("conflict", `domain ${domain} is already registered`, { cause: error });
          }
          throw error;
        }
      });
      notify("registered", domain);
      return { record: toDomainRecord(row), clientApiKey };
    },

    async unregister(domain, clientApiKey) {
      await storeCall("unregister", async () => {
        const row = await findRow(domain);
        if (!row) throw new HopGateError("not_found", `domain ${domain} is not registered`);
        if (!apiKeyMatchesDigest(clientApiKey, row.client_api_key)) {
          throw new HopGateError("forbidden", `client API key does not match domain ${domain}`);
        }
        // The digest condition keeps a concurrent key rotation from being undone by an old key.
        const result = await db
          .deleteFrom("domains")
          .where("id", "=", row.id)
          .where("client_api_key", "=", row.client_api_key)
          .executeTakeFirst();
        if (result.numDeletedRows === 0n) {
          throw new HopGateError("forbidden", `client API key of domain ${domain} changed meanwhile`);
        }
      });
      notify("unregistered", domain);
    },

    async revoke(domain) {
      await storeCall("revoke", async () => {
        const result = await db.deleteFrom("domains").where("domain", "=", domain).executeTakeFirst();
        if (result.numDeletedRows === 0n)
          throw new HopGateError("not_found", `domain ${domain} is not registered`);
      });
      notify("unregistered", domain);
    },

    async rotateKey(domain) {
      const clientApiKey = generateApiKey();
      await storeCall("rotate key", async () => {
        const result = await db
          .updateTable("domains")
          .set({ client_api_key: digestApiKey(clientApiKey), updated_at: new Date().toISOString() })
          .where("domain", "=", domain)
          .executeTakeFirst();
        if (result.numUpdatedRows === 0n)
          throw new HopGateError("not_found", `domain ${domain} is not registered`);
      });
      notify("key_rotated", domain);
      return clientApiKey;
    },

    find: (domain) =>
      storeCall("find", async () => {
        const row = await db
          .selectFrom("domains")
          .select(RECORD_COLUMNS)
          .where("domain", "=", domain)
          .executeTakeFirst();
        return row && toDomainRecord(row);
      }),

    list: ({ limit, after }) =>
      storeCall("list", async () => {
        if (!Number.isInteger(limit) || limit < 1)
          throw new HopGateError("invalid_input", "limit must be a positive integer");
        let query = db
          .selectFrom("domains")
          .select(RECORD_COLUMNS)
          .orderBy("domain")
          .limit(limit + 1);
        if (after !== undefined) query = query.where("domain", ">", after);
        const rows = await query.execute();
        const items = rows.slice(0, limit).map(toDomainRecord);
        return rows.length > limit ? { items, next: items[items.length - 1]?.domain } : { items };
      }),

    authenticate: (domain, clientApiKey) =>
      storeCall("authenticate", async () => {
        const row = await findRow(domain);
        const matches = apiKeyMatchesDigest(clientApiKey, row?.client_api_key ?? ABSENT_DIGEST);
        return row && matches ? toDomainRecord(row) : undefined;
      }),

    findWildcardByKey: (clientApiKey) =>
      storeCall("find wildcard", async () => {
        // Wildcard patterns start with "*." and sort (byte order) before "*/".
        const rows = await db
          .selectFrom("domains")
          .select(["domain", "client_api_key"])
          .where("domain", ">=", "*.")
          .where("domain", "<", "*/")
          .execute();
        let found: string | undefined;
        for (const row of rows) {
          if (apiKeyMatchesDigest(clientApiKey, row.client_api_key)) found ??= row.domain;
        }
        return found;
      }),

    allDomains: () =>
      storeCall("list all", async () => {
        const rows = await db.selectFrom("domains").select("domain").orderBy("domain").execute();
        return rows.map((row) => row.domain);
      }),

    allDomainKeys: () =>
      storeCall("list all", async () => {
        const rows = await db.selectFrom("domains").select(["domain", "client_api_key"]).execute();
        return rows.map((row) => ({ domain: row.domain, keyDigest: row.client_api_key }));
      }),
  };
}
