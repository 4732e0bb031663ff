import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createChallengeTokens } from "../../src/server/certs/acme/challenge-tokens.js";
import { MAIN_DOMAIN, startServer, waitFor, type ServerUnderTest } from "../helpers/acme-fixture.js";
import { freePort } from "../helpers/free-port.js";
import { lifoCleanup, type LifoCleanup } from "../helpers/lifo-cleanup.js";
import { preparePebble } from "../helpers/pebble.js";
import { storeBackends, type StoreLocation } from "../helpers/store-backends.js";

const MINUTE_MS = 60_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Pebble validating HTTP-01 at a port where nothing listens: every order of every name reaches
 * the CA and fails its validation.
 */
async function failingCa(cleanup: LifoCleanup) {
  const pebble = await preparePebble(cleanup, { httpPort: await freePort() });
  const running = await pebble.start();
  return { environment: { challenges: createChallengeTokens(), pebble }, running };
}

type Environment = Awaited<ReturnType<typeof failingCa>>["environment"];

const failedStatus = (server: ServerUnderTest) => {
  const status = server.manager.status(MAIN_DOMAIN);
  return status?.state === "failed" ? status : undefined;
};

const start = (
  cleanup: LifoCleanup,
  environment: Environment,
  location: StoreLocation,
  firstRetryDelayMs: number,
  maxRetryDelayMs: number,
) => startServer(cleanup, environment, location, { policy: { firstRetryDelayMs, maxRetryDelayMs } });

const failedOrders = (servers: readonly ServerUnderTest[]) =>
  servers.flatMap((server) => server.orders).filter((order) => order.result === "failed");

for (const backend of storeBackends) {
  describe(
    `failed ACME orders counted for the gateway on ${backend.name} (pebble)`,
    { skip: backend.skip },
    () => {
      it("lets at most 5 orders of a name reach the CA within the hour across two servers sharing the store", async (t) => {
        const cleanup = lifoCleanup(t);
        const { environment, running } = await failingCa(cleanup);
        const location = await backend.location(cleanup);
        // Each server alone would fail 5 times within about 2 s, then wait for the hour.
        const servers = await Promise.all([
          start(cleanup, environment, location, 100, 1_000),
          start(cleanup, environment, location, 100, 1_000),
        ]);
        await waitFor(
          () =>
            servers.every((server) => (failedStatus(server)?.nextRetryMs ?? 0) > Date.now() + 30 * MINUTE_MS),
          90_000,
          "both servers waiting for the hourly limit",
        );
        // Several times the longest backoff (1.1 s): a server counting alone would order again.
        await sleep(4_000);
        assert.equal(running.ordersAdded(), 5, "orders that reached the CA");
        assert.equal(failedOrders(servers).length, 5, "failed orders reported by both servers together");
        const [a, b] = servers.map(failedStatus);
        assert.ok(a && b);
        assert.equal(a.reason, b.reason, "both show the latest failure's reason");
        assert.ok(Math.abs(a.nextRetryMs - b.nextRetryMs) < 2_000, "both show the same next retry");
      });

      it("makes a second server wait for the backoff of the first server's failure, also on a handshake, and shows the gateway's latest failure", async (t) => {
        const cleanup = lifoCleanup(t);
        const { environment, running } = await failingCa(cleanup);
        const location = await backend.location(cleanup);
        const first = await start(cleanup, environment, location, 10 * MINUTE_MS, 60 * MINUTE_MS);
        const failed = await waitFor(() => failedStatus(first), 60_000, "the first server's failed order");
        assert.equal(running.ordersAdded(), 1);

        const second = await start(cleanup, environment, location, 10 * MINUTE_MS, 60 * MINUTE_MS);
        const deferred = await waitFor(() => failedStatus(second), 60_000, "the second server's status");
        assert.equal(deferred.reason, failed.reason, "the first server's failure, shown by the second");
        assert.ok(
          Math.abs(deferred.nextRetryMs - failed.nextRetryMs) < 2_000,
          `next retry ${deferred.nextRetryMs} vs ${failed.nextRetryMs}`,
        );
        // A handshake for the name (the SNI callback's path) gets the fallback without an order.
        assert.ok(await second.manager.secureContextFor(MAIN_DOMAIN), "the fallback is served");
        await sleep(1_000);
        assert.equal(running.ordersAdded(), 1, "the second server did not order");
        assert.deepEqual(second.orders, [], "no order finished on the second server");

        // Another server's later failure, recorded in the store: the admin API's view follows it.
        await first.store.withLock(`certificate:${MAIN_DOMAIN}`, () =>
          first.store.recordOrderFailure(MAIN_DOMAIN, {
            reason: "third server",
            count: 2,
            retryInMs: 30 * MINUTE_MS,
          }),
        );
        for (const server of [first, second]) {
          const current = await server.manager.currentStatus(MAIN_DOMAIN);
          assert.ok(current?.state === "failed");
          assert.equal(current.reason, "third server");
          assert.ok(current.nextRetryMs > Date.now() + 25 * MINUTE_MS, "the recorded retry time");
        }
      });
    },
  );
}
