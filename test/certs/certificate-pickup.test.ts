import assert from "node:assert/strict";
import { describe, it, type TestContext } from "node:test";
import { silentLogger } from "../../src/lib/logger.js";
import { createCertificatePickUp } from "../../src/server/certs/acme/certificate-pickup.js";
import type { CertificateStore } from "../../src/server/certs/acme/certificate-store.js";
import { createKyselyCertificateStore } from "../../src/server/certs/acme/kysely-certificate-store.js";
import { generateSelfSignedCertificate } from "../../src/server/certs/self-signed-certificate.js";
import { openTestDatabase, storeBackends } from "../helpers/store-backends.js";

/** A real SQLite store (migrated), and a way to write a certificate for a domain into it. */
async function sqliteStore(t: TestContext) {
  const cleanup = (fn: () => unknown) => t.after(fn);
  const store = createKyselyCertificateStore(
    await openTestDatabase(cleanup, await storeBackends[0]!.location(cleanup)),
  );
  const pair = await generateSelfSignedCertificate({ names: ["a.example.test"], validityDays: 1 });
  const write = (domain: string) => store.saveCertificate({ domain, ...pair });
  return { store, write };
}

const pickUpOf = (store: CertificateStore, reported: string[], fail?: (domain: string) => boolean) =>
  createCertificatePickUp({
    store,
    intervalMs: 3_600_000,
    onChanged: (domain) => {
      if (fail?.(domain)) return Promise.reject(new Error(`cannot load ${domain}`));
      reported.push(domain);
      return Promise.resolve();
    },
    logger: silentLogger(),
  });

describe("certificate pick-up (certificate-pickup.ts, SQLite store)", () => {
  it("reports certificates written after the baseline, once each", async (t) => {
    const { store, write } = await sqliteStore(t);
    await write("old.example.test");
    const reported: string[] = [];
    const pickUp = pickUpOf(store, reported);
    t.after(() => pickUp.stop());
    await pickUp.baseline();
    await write("new.example.test");
    await pickUp.poll();
    await pickUp.poll();
    assert.deepEqual(reported, ["new.example.test"]);
  });

  it("looks again after a running look when asked during it: the running one may have read before the write", async (t) => {
    const { store, write } = await sqliteStore(t);
    let release = () => {};
    const held = new Promise<void>((resolve) => (release = resolve));
    let looks = 0;
    // The first look reads the store, then is held before it reports (a slow round trip).
    const slow: CertificateStore = {
      ...store,
      certificateRevisions: async (sinceMs) => {
        const revisions = await store.certificateRevisions(sinceMs);
        if (++looks === 2) await held;
        return revisions;
      },
    };
    const reported: string[] = [];
    const pickUp = pickUpOf(slow, reported);
    t.after(() => pickUp.stop());
    await pickUp.baseline();
    const first = pickUp.poll();
    await new Promise((resolve) => setTimeout(resolve, 50));
    await write("late.example.test");
    const second = pickUp.poll();
    release();
    await first;
    assert.deepEqual(reported, [], "the held look read before the write");
    await second;
    assert.deepEqual(reported, ["late.example.test"], "the look asked for during it found it");
  });

  it("reports again, at the next look, a certificate whose pick-up failed", async (t) => {
    const { store, write } = await sqliteStore(t);
    const reported: string[] = [];
    let failing = true;
    const pickUp = pickUpOf(store, reported, () => failing);
    t.after(() => pickUp.stop());
    await pickUp.baseline();
    await write("flaky.example.test");
    await pickUp.poll();
    assert.deepEqual(reported, []);
    failing = false;
    await pickUp.poll();
    assert.deepEqual(reported, ["flaky.example.test"]);
  });

  it("reads every revision in a full look, and only the recent ones otherwise", async (t) => {
    const { store } = await sqliteStore(t);
    const asked: Array<number | undefined> = [];
    const recording: CertificateStore = {
      ...store,
      certificateRevisions: (sinceMs) => {
        asked.push(sinceMs);
        return Promise.resolve([{ domain: "a.example.test", updatedAtMs: 1_000_000 }]);
      },
    };
    const pickUp = pickUpOf(recording, []);
    t.after(() => pickUp.stop());
    await pickUp.baseline();
    await pickUp.poll();
    await pickUp.poll({ full: true });
    assert.deepEqual(asked, [undefined, 1_000_000 - 5 * 60 * 1000, undefined]);
  });
});
