import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { sql } from "kysely";
import { createKyselyCertificateStore } from "../../src/server/certs/acme/kysely-certificate-store.js";
import { generateSelfSignedCertificate } from "../../src/server/certs/self-signed-certificate.js";
import type { Database } from "../../src/server/store/database.js";
import { storeNowMs } from "../../src/server/store/store-clock.js";
import { openTestDatabase, storeBackends } from "../helpers/store-backends.js";

const HOUR_MS = 3_600_000;
const A = "a.example.test";
const B = "b.example.test";
/** Between this test's clock and the database's reading of it (one query each way). */
const CLOCK_SLACK_MS = 2_000;

/** A failure row written as a server `ageMs` ago would have written it. */
async function insertOld(database: Database, domain: string, failures: number, ageMs: number) {
  const now = storeNowMs(database.dialect);
  await database.db
    .insertInto("acme_failures")
    .values({
      domain,
      failures,
      failed_ms: sql<number>`${now} - ${ageMs}`,
      next_retry_ms: sql<number>`${now} - ${ageMs} + 1000`,
      reason: `old ${failures}`,
    })
    .execute();
}

for (const backend of storeBackends) {
  describe(`failed ACME orders in the ${backend.name} store`, { skip: backend.skip }, () => {
    it("reads back the count, the latest reason, the hour's failures and the next retry on the reader's clock", async (t) => {
      const cleanup = (fn: () => unknown) => t.after(fn);
      const store = createKyselyCertificateStore(
        await openTestDatabase(cleanup, await backend.location(cleanup)),
      );
      assert.equal(await store.orderFailures(A), undefined);
      const beforeMs = Date.now();
      await store.recordOrderFailure(A, { reason: "first", count: 1, retryInMs: 15_000 });
      await store.recordOrderFailure(A, { reason: "second", count: 2, retryInMs: 30_000 });
      const afterMs = Date.now();
      const failures = await store.orderFailures(A);
      assert.ok(failures);
      assert.equal(failures.reason, "second");
      assert.equal(failures.count, 2);
      assert.equal(failures.recentMs.length, 2);
      for (const atMs of failures.recentMs)
        assert.ok(atMs >= beforeMs - CLOCK_SLACK_MS && atMs <= afterMs + CLOCK_SLACK_MS, `failed at ${atMs}`);
      assert.ok(Math.abs(failures.nextRetryMs - (afterMs + 30_000)) < CLOCK_SLACK_MS, "next retry");
      assert.equal(await store.orderFailures(B), undefined, "another domain has none");
    });

    it("moves a domain's next retry to now for an admin's retry, keeping its failures, and only that domain's", async (t) => {
      const cleanup = (fn: () => unknown) => t.after(fn);
      const store = createKyselyCertificateStore(
        await openTestDatabase(cleanup, await backend.location(cleanup)),
      );
      await store.retryOrderNow(A); // nothing recorded: nothing to move
      assert.equal(await store.orderFailures(A), undefined);
      for (const domain of [A, B]) {
        await store.recordOrderFailure(domain, { reason: "first", count: 1, retryInMs: 15_000 });
        await store.recordOrderFailure(domain, { reason: "second", count: 2, retryInMs: HOUR_MS });
      }
      await store.retryOrderNow(A);
      const afterMs = Date.now();
      const moved = await store.orderFailures(A);
      assert.ok(moved);
      assert.ok(
        moved.nextRetryMs <= afterMs + CLOCK_SLACK_MS,
        `next retry ${moved.nextRetryMs - afterMs} ms ahead`,
      );
      assert.equal(moved.count, 2, "the count goes on");
      assert.equal(moved.recentMs.length, 2, "the hour's failures still count against the limit");
      assert.equal(moved.reason, "second");
      const other = await store.orderFailures(B);
      assert.ok(
        other && other.nextRetryMs > afterMs + HOUR_MS - CLOCK_SLACK_MS,
        "another domain keeps its wait",
      );
    });

    it("forgets a domain's failures when a certificate of it is stored or deleted, and only that domain's", async (t) => {
      const cleanup = (fn: () => unknown) => t.after(fn);
      const store = createKyselyCertificateStore(
        await openTestDatabase(cleanup, await backend.location(cleanup)),
      );
      for (const domain of [A, B])
        await store.recordOrderFailure(domain, { reason: "refused", count: 1, retryInMs: 15_000 });
      const pair = await generateSelfSignedCertificate({ names: [A], validityDays: 10 });
      await store.saveCertificate({ domain: A, ...pair });
      assert.equal(await store.orderFailures(A), undefined, "count starts again after a certificate");
      assert.equal((await store.orderFailures(B))?.count, 1);
      await store.deleteCertificate(B);
      assert.equal(await store.orderFailures(B), undefined, "an unregistered domain starts afresh");
    });

    it("prunes failures older than an hour but keeps the latest (the count), and drops a day-old domain", async (t) => {
      const cleanup = (fn: () => unknown) => t.after(fn);
      const database = await openTestDatabase(cleanup, await backend.location(cleanup));
      const store = createKyselyCertificateStore(database);
      await insertOld(database, A, 7, 2 * HOUR_MS);
      await insertOld(database, A, 8, 1.5 * HOUR_MS);
      await insertOld(database, B, 3, 25 * HOUR_MS);
      const latestOnly = await store.orderFailures(A);
      assert.equal(latestOnly?.count, 8, "the count survives the hour");
      assert.deepEqual(latestOnly.recentMs, [], "none within the hour");

      await store.recordOrderFailure(A, { reason: "ninth", count: 9, retryInMs: HOUR_MS });
      const rows = await database.db
        .selectFrom("acme_failures")
        .select(["domain", "failures"])
        .orderBy("domain")
        .orderBy("failures")
        .execute();
      assert.deepEqual(
        rows.map((row) => `${row.domain} ${Number(row.failures)}`),
        [`${A} 9`],
        "older rows of A and B's day-old row are gone",
      );
      assert.equal((await store.orderFailures(A))?.recentMs.length, 1);
    });

    it("keeps the latest reason of a re-recorded failure number (a lock taken over mid-order)", async (t) => {
      const cleanup = (fn: () => unknown) => t.after(fn);
      const store = createKyselyCertificateStore(
        await openTestDatabase(cleanup, await backend.location(cleanup)),
      );
      await store.recordOrderFailure(A, { reason: "one", count: 1, retryInMs: 15_000 });
      await store.recordOrderFailure(A, { reason: "again", count: 1, retryInMs: 15_000 });
      const failures = await store.orderFailures(A);
      assert.equal(failures?.reason, "again");
      assert.equal(failures.recentMs.length, 1);
    });
  });
}
