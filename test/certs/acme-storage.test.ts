import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  MAIN_DOMAIN,
  ordersFor,
  startAcmeEnvironment,
  startServer,
  storeLocation,
  verifiedHandshake,
  waitFor,
} from "../helpers/acme-fixture.js";
import { lifoCleanup } from "../helpers/lifo-cleanup.js";
import { storeBackends } from "../helpers/store-backends.js";

const ISSUE_TIMEOUT_MS = 60_000;

for (const backend of storeBackends) {
  describe(`ACME certificates in the ${backend.name} store`, { skip: backend.skip }, () => {
    it("reuses stored certificates and the account after a restart, without a new order", async (t) => {
      const cleanup = lifoCleanup(t);
      const environment = await startAcmeEnvironment(cleanup);
      const location = await storeLocation(cleanup, backend);
      const first = await startServer(cleanup, environment, location, { registered: ["kept.example.test"] });
      assert.equal((await first.manager.ensure("kept.example.test")).state, "issued");
      await waitFor(
        () => first.manager.status(MAIN_DOMAIN)?.state === "issued",
        ISSUE_TIMEOUT_MS,
        "main domain",
      );
      const before = await verifiedHandshake(environment.running, first.tlsPort, "kept.example.test");
      const account = await first.store.loadAccount(environment.pebble.directoryUrl);
      assert.ok(account, "the account key is stored");
      await first.manager.stop();

      const second = await startServer(cleanup, environment, location, { registered: ["kept.example.test"] });
      const after = await verifiedHandshake(environment.running, second.tlsPort, "kept.example.test");
      assert.equal(after.serialNumber, before.serialNumber, "the stored certificate is served");
      assert.equal((await second.manager.ensure("kept.example.test")).state, "issued");
      assert.deepEqual(second.orders, [], "no order after the restart");
      assert.deepEqual(
        await second.store.loadAccount(environment.pebble.directoryUrl),
        account,
        "same account",
      );

      second.registered.add("new.example.test");
      assert.equal(
        (await second.manager.ensure("new.example.test")).state,
        "issued",
        "the stored account still orders",
      );
    });

    it("deletes at start-up the certificate of a domain unregistered while the server was down", async (t) => {
      const cleanup = lifoCleanup(t);
      const environment = await startAcmeEnvironment(cleanup);
      const location = await storeLocation(cleanup, backend);
      const first = await startServer(cleanup, environment, location, { registered: ["left.example.test"] });
      assert.equal((await first.manager.ensure("left.example.test")).state, "issued");
      await first.manager.stop();

      const second = await startServer(cleanup, environment, location, { registered: [] });
      await waitFor(
        async () => (await second.store.loadCertificate("left.example.test")) === undefined || undefined,
        10_000,
        "deletion",
      );
      assert.equal(second.manager.status("left.example.test"), undefined);
      assert.deepEqual(ordersFor(second, "left.example.test"), []);
    });
  });
}

const postgres = storeBackends.find((backend) => backend.name === "postgres");
describe("two servers sharing PostgreSQL", { skip: postgres?.skip }, () => {
  it("order once per domain: the second server takes the first one's certificate", async (t) => {
    const cleanup = lifoCleanup(t);
    const environment = await startAcmeEnvironment(cleanup);
    const location = await storeLocation(cleanup, postgres);
    const serverA = await startServer(cleanup, environment, location);
    const serverB = await startServer(cleanup, environment, location);
    serverA.registered.add("shared.example.test");
    serverB.registered.add("shared.example.test");
    const [statusA, statusB] = await Promise.all([
      serverA.manager.ensure("shared.example.test"),
      serverB.manager.ensure("shared.example.test"),
    ]);
    assert.equal(statusA.state, "issued");
    assert.equal(statusB.state, "issued");
    const orders = [
      ...ordersFor(serverA, "shared.example.test"),
      ...ordersFor(serverB, "shared.example.test"),
    ];
    assert.deepEqual(
      orders.map((order) => order.result),
      ["issued"],
      "one order between the two servers",
    );
    const peerA = await verifiedHandshake(environment.running, serverA.tlsPort, "shared.example.test");
    const peerB = await verifiedHandshake(environment.running, serverB.tlsPort, "shared.example.test");
    assert.equal(peerA.serialNumber, peerB.serialNumber);
  });
});
