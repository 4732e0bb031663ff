import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createKyselyCertificateStore } from "../../src/server/certs/acme/kysely-certificate-store.js";
import { startStoreProcess } from "../helpers/store-process.js";
import { openTestDatabase, storeBackends } from "../helpers/store-backends.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

for (const backend of storeBackends) {
  describe(`certificate order lock across processes on ${backend.name}`, { skip: backend.skip }, () => {
    it("waits longer than a query may take while another process holds it, and is taken over soon after that process is killed with SIGKILL", async (t) => {
      const cleanup = (fn: () => unknown) => t.after(fn);
      const location = await backend.location(cleanup);
      const holder = startStoreProcess(location, ["lock", "a.example.test"]);
      t.after(() => holder.child.kill("SIGKILL"));
      assert.deepEqual((await holder.lines.next()).value, { locked: true });

      const store = createKyselyCertificateStore(await openTestDatabase(cleanup, location));
      let settled: "taken" | "failed" | undefined;
      const waiter = store
        .withLock("certificate:a.example.test", () => Promise.resolve(Date.now()))
        .finally(() => (settled ??= "taken"))
        .catch((error: unknown) => {
          settled = "failed";
          throw error;
        });
      waiter.catch(() => undefined);
      // Longer than the store's per-query timeout (5 s): a waiter must not give up meanwhile.
      await sleep(6_500);
      assert.equal(settled, undefined, "the lock was not taken (nor given up) while its holder lives");

      const killedAtMs = Date.now();
      holder.child.kill("SIGKILL");
      const takenAtMs = await waiter;
      t.diagnostic(`lock taken over ${takenAtMs - killedAtMs} ms after SIGKILL of its holder`);
      // Tells a released lock from a stuck one (SQLite: a 15 s lease); the figures are in
      // docs/scale-out.md.
      assert.ok(takenAtMs - killedAtMs < 45_000, `taken over after ${takenAtMs - killedAtMs} ms`);
    });
  });
}
