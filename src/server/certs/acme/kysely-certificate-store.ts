import { createHash } from "node:crypto";
import { sql } from "kysely";
import { createKeyedLock } from "../../../lib/keyed-lock.js";
import type { Database } from "../../store/database.js";
import { withLeaseLock } from "../../store/lease-lock.js";
import { storeCall, toStoreError } from "../../store/store-error.js";
import { HopGateError } from "../../../lib/hopgate-error.js";
import { describeCertificate } from "../certificate-pair.js";
import type { AcmeAccount, CertificateStore, StoredCertificate } from "./certificate-store.js";
import { createKyselyOrderFailures } from "./kysely-order-failures.js";

/** First key of HopGate's two-key advisory locks ("HopG"), apart from Kysely's migration lock. */
const ADVISORY_LOCK_CLASS = 0x486f7047;
/** Pause between tries of a lock another server holds: the takeover delay after it is released. */
const LOCK_RETRY_MS = 200;
/** Longest wait for a lock (an ACME order takes seconds to a minute); then the order fails. */
const LOCK_WAIT_MS = 10 * 60 * 1000;

/**
 * Certificates, ACME accounts and failed orders in the HopGate store (tables `certificates`,
 * `acme_accounts`, `acme_failures`).
 * Locks are in-process for every backend and also, across the processes sharing the store, a
 * session advisory lock held on one pooled connection (PostgreSQL) or a lease row (SQLite, several
 * workers on one file: src/server/store/lease-lock.ts), so they order one at a time per domain.
 */
export function createKyselyCertificateStore(database: Database): CertificateStore {
  const { db } = database;
  const local = createKeyedLock();
  const failures = createKyselyOrderFailures(database);
  const toCertificate = (row: { domain: string; certificate_pem: string; private_key_pem: string }) => ({
    domain: row.domain,
    certificatePem: row.certificate_pem,
    privateKeyPem: row.private_key_pem,
  });

  return {
    loadCertificate: (domain) =>
      storeCall("load certificate", async () => {
        const row = await db
          .selectFrom("certificates")
          .select(["domain", "certificate_pem", "private_key_pem"])
          .where("domain", "=", domain)
          .executeTakeFirst();
        return row && toCertificate(row);
      }),
    loadAllCertificates: () =>
      storeCall("load certificates", async () =>
        (
          await db
            .selectFrom("certificates")
            .select(["domain", "certificate_pem", "private_key_pem"])
            .execute()
        ).map(toCertificate),
      ),
    saveCertificate: (certificate: StoredCertificate) =>
      storeCall("save certificate", async () => {
        const now = new Date().toISOString();
        const values = {
          certificate_pem: certificate.certificatePem,
          private_key_pem: certificate.privateKeyPem,
          not_after: new Date(describeCertificate(certificate.certificatePem).notAfterMs).toISOString(),
          updated_at: now,
        };
        await db
          .insertInto("certificates")
          .values({ domain: certificate.domain, ...values })
          .onConflict((conflict) => conflict.column("domain").doUpdateSet(values))
          .execute();
        await failures.clearOrderFailures(certificate.domain);
      }),
    deleteCertificate: (domain) =>
      storeCall("delete certificate", async () => {
        await db.deleteFrom("certificates").where("domain", "=", domain).execute();
        await failures.clearOrderFailures(domain);
      }),
    orderFailures: failures.orderFailures,
    recordOrderFailure: failures.recordOrderFailure,
    retryOrderNow: failures.retryOrderNow,
    certificateRevisions: (sinceMs) =>
      storeCall("list certificate revisions", async () => {
        let query = db.selectFrom("certificates").select(["domain", "updated_at"]);
        if (sinceMs !== undefined) query = query.where("updated_at", ">=", new Date(sinceMs).toISOString());
        return (await query.execute()).map((row) => ({
          domain: row.domain,
          updatedAtMs: new Date(row.updated_at).getTime(),
        }));
      }),
    loadAccount: (directoryUrl) =>
      storeCall("load ACME account", async () => {
        const row = await db
          .selectFrom("acme_accounts")
          .select(["directory_url", "account_key_pem", "account_url", "email"])
          .where("directory_url", "=", directoryUrl)
          .executeTakeFirst();
        if (!row) return undefined;
        const account: AcmeAccount = {
          directoryUrl: row.directory_url,
          accountKeyPem: row.account_key_pem,
          accountUrl: row.account_url,
          ...(row.email ? { email: row.email } : {}),
        };
        return account;
      }),
    saveAccount: (account) =>
      storeCall("save ACME account", async () => {
        const now = new Date().toISOString();
        const values = {
          account_key_pem: account.accountKeyPem,
          account_url: account.accountUrl,
          email: account.email ?? "",
          updated_at: now,
        };
        await db
          .insertInto("acme_accounts")
          .values({ directory_url: account.directoryUrl, ...values, created_at: now })
          .onConflict((conflict) => conflict.column("directory_url").doUpdateSet(values))
          .execute();
      }),
    withLock: (name, body) =>
      local.run(name, () =>
        database.dialect === "postgres"
          ? withAdvisoryLock(database, name, body)
          : withLeaseLock(database, name, body, { maxWaitMs: LOCK_WAIT_MS }),
      ),
  };
}

/**
 * A session-level advisory lock (PostgreSQL §13.3.5) on one connection taken from the pool for
 * the duration of `body`; a crashed server's lock goes with its connection (at once when its
 * socket closes; after the database's TCP keepalive when its host vanished: docs/scale-out.md).
 * Tried rather than awaited: a blocking pg_advisory_lock would hit the pool's statement timeout
 * (5 s) while another server's order runs longer, and would hold a pooled connection while
 * waiting. Between tries the connection goes back to the pool; after LOCK_WAIT_MS the wait
 * fails ("unavailable"), and the order is retried with its backoff.
 */
async function withAdvisoryLock<T>(database: Database, name: string, body: () => Promise<T>): Promise<T> {
  const key = createHash("sha256").update(name).digest().readInt32BE(0);
  const giveUpAtMs = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    let locked = false;
    try {
      const outcome = await database.db.connection().execute(async (connection) => {
        const { rows } = await sql<{
          locked: boolean;
        }>`select pg_try_advisory_lock(${ADVISORY_LOCK_CLASS}, ${key}) as locked`.execute(connection);
        locked = rows[0]?.locked === true;
        if (!locked) return undefined;
        try {
          return { value: await body() };
        } finally {
          await sql`select pg_advisory_unlock(${ADVISORY_LOCK_CLASS}, ${key})`.execute(connection);
        }
      });
      if (outcome) return outcome.value;
    } catch (error) {
      if (locked) throw error;
      throw toStoreError(error, `lock ${name}`);
    }
    if (Date.now() >= giveUpAtMs) {
      throw new HopGateError(
        "unavailable",
        `lock ${name} held by another server for over ${LOCK_WAIT_MS / 60_000} min`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, LOCK_RETRY_MS));
  }
}
