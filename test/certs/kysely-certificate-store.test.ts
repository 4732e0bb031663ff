import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createKyselyCertificateStore } from "../../src/server/certs/acme/kysely-certificate-store.js";
import { generateSelfSignedCertificate } from "../../src/server/certs/self-signed-certificate.js";
import { openTestDatabase, storeBackends } from "../helpers/store-backends.js";

const pair = (name: string) => generateSelfSignedCertificate({ names: [name], validityDays: 10 });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms).unref());

for (const backend of storeBackends) {
  describe(`certificate store on ${backend.name}`, { skip: backend.skip }, () => {
    it("keeps one certificate per domain: saved, replaced, listed, deleted", async (t) => {
      const cleanup = (fn: () => unknown) => t.after(fn);
      const location = await backend.location(cleanup);
      const store = createKyselyCertificateStore(await openTestDatabase(cleanup, location));
      const first = { domain: "a.example.test", ...(await pair("a.example.test")) };
      const second = { domain: "a.example.test", ...(await pair("a.example.test")) };
      const other = { domain: "b.example.test", ...(await pair("b.example.test")) };
      assert.equal(await store.loadCertificate("a.example.test"), undefined);
      await store.saveCertificate(first);
      await store.saveCertificate(other);
      assert.deepEqual(await store.loadCertificate("a.example.test"), first);
      await store.saveCertificate(second);
      assert.deepEqual(await store.loadCertificate("a.example.test"), second, "replaced, not duplicated");
      const all = await store.loadAllCertificates();
      assert.deepEqual(all.map((c) => c.domain).sort(), ["a.example.test", "b.example.test"]);
      await store.deleteCertificate("a.example.test");
      assert.equal(await store.loadCertificate("a.example.test"), undefined);
      assert.deepEqual(await store.loadCertificate("b.example.test"), other);

      const reopened = createKyselyCertificateStore(await openTestDatabase(cleanup, location));
      assert.deepEqual(await reopened.loadAllCertificates(), [other], "survives a reopen");
    });

    it("keeps one ACME account per directory URL", async (t) => {
      const cleanup = (fn: () => unknown) => t.after(fn);
      const store = createKyselyCertificateStore(
        await openTestDatabase(cleanup, await backend.location(cleanup)),
      );
      const staging = {
        directoryUrl: "https://ca.test/staging",
        accountKeyPem: "KEY1",
        accountUrl: "https://ca.test/acct/1",
      };
      assert.equal(await store.loadAccount(staging.directoryUrl), undefined);
      await store.saveAccount(staging);
      assert.deepEqual(await store.loadAccount(staging.directoryUrl), staging);
      await store.saveAccount({ ...staging, email: "ops@example.test" });
      assert.deepEqual(await store.loadAccount(staging.directoryUrl), {
        ...staging,
        email: "ops@example.test",
      });
      assert.equal(await store.loadAccount("https://ca.test/production"), undefined);
    });

    it("runs bodies for one lock name one at a time, different names side by side", async (t) => {
      const cleanup = (fn: () => unknown) => t.after(fn);
      const store = createKyselyCertificateStore(
        await openTestDatabase(cleanup, await backend.location(cleanup)),
      );
      const events: string[] = [];
      const { promise: b1Started, resolve: markB1Started } = Promise.withResolvers<void>();
      const body = (label: string, holdUntil?: Promise<void>) => async () => {
        events.push(`${label} start`);
        if (label === "b1") markB1Started();
        // a1 holds its lock until b1 runs (or 10 s pass): b1 must not wait for lock "a".
        await Promise.race([holdUntil ?? sleep(100), sleep(10_000)]);
        events.push(`${label} end`);
        return label;
      };
      const results = await Promise.all([
        store.withLock("certificate:a", body("a1", b1Started)),
        store.withLock("certificate:a", body("a2")),
        store.withLock("certificate:b", body("b1")),
      ]);
      assert.deepEqual(results, ["a1", "a2", "b1"]);
      assert.ok(events.indexOf("a1 end") < events.indexOf("a2 start"), events.join(", "));
      assert.ok(events.indexOf("b1 start") < events.indexOf("a1 end"), "another name is not held up");
      await assert.rejects(
        store.withLock("certificate:a", () => Promise.reject(new Error("boom"))),
        /boom/,
      );
      assert.equal(await store.withLock("certificate:a", () => Promise.resolve("free again")), "free again");
    });
  });
}

const postgres = storeBackends.find((backend) => backend.name === "postgres");
describe(
  "certificate store locks across servers (PostgreSQL advisory lock)",
  { skip: postgres?.skip },
  () => {
    it("holds a second server sharing the database until the first releases the lock", async (t) => {
      const cleanup = (fn: () => unknown) => t.after(fn);
      const location = await postgres!.location(cleanup);
      const serverA = createKyselyCertificateStore(await openTestDatabase(cleanup, location));
      const serverB = createKyselyCertificateStore(await openTestDatabase(cleanup, location));
      const events: string[] = [];
      let releaseA!: () => void;
      const aHolds = new Promise<void>((resolve) => (releaseA = resolve));
      let aStarted!: () => void;
      const aIsIn = new Promise<void>((resolve) => (aStarted = resolve));
      const a = serverA.withLock("certificate:shared.example.test", async () => {
        events.push("A in");
        aStarted();
        await aHolds;
        events.push("A out");
      });
      await aIsIn;
      const b = serverB.withLock("certificate:shared.example.test", () => {
        events.push("B in");
        return Promise.resolve();
      });
      const other = serverB.withLock("certificate:other.example.test", () => {
        events.push("B other");
        return Promise.resolve();
      });
      await other;
      await sleep(300);
      assert.deepEqual(events, ["A in", "B other"], "B waits for the same name only");
      releaseA();
      await Promise.all([a, b]);
      assert.deepEqual(events, ["A in", "B other", "A out", "B in"]);
    });
  },
);
