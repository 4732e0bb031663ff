import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, it, type TestContext } from "node:test";
import { GrpcCode } from "../../src/protocol/grpc-status.js";
import { startGateway, type Gateway } from "../helpers/gateway.js";
import { pollUntil } from "../helpers/poll-until.js";
import { createTestPgDatabase, cuttablePgDatabase, pgSkip } from "../helpers/postgres.js";
import { startV1GoClientTo } from "../helpers/v1-go-client.js";
import { visit } from "../helpers/visit.js";
import { within } from "../helpers/within.js";

const ADMIN_KEY = `admin-${randomBytes(16).toString("hex")}`;
const DOMAIN = "app.example.test";
/** Three failures within a minute block for five minutes; the servers trust 127.0.0.1's X-Forwarded-For. */
const FLAGS = {
  adminApiKey: ADMIN_KEY,
  authMaxFailures: "3",
  authFailureWindowSeconds: "60",
  authBlockSeconds: "300",
  trustedProxies: "127.0.0.1",
};
const GUESSER = "203.0.113.9";
const OTHER = "198.51.100.7";
/** Tells "about a second" (the store's change signal) from "never", with a wide margin. */
const PROPAGATION_LIMIT_MS = 5_000;

/** An admin request from `from` (X-Forwarded-For, trusted) with `bearer`; resolves with the status. */
async function adminStatus(gateway: Gateway, from: string, bearer: string): Promise<number> {
  const answer = await visit(gateway.port, "gateway.test", `/api/v1/admin/domains/exists?domain=${DOMAIN}`, {
    headers: { authorization: `Bearer ${bearer}`, "x-forwarded-for": from },
    timeoutMs: 10_000,
  });
  return answer.status;
}

/** A v1 tunnel handshake from `from` with `apiKey`; resolves with the grpc-status it ended with. */
async function handshakeStatus(t: TestContext, gateway: Gateway, from: string, apiKey: string) {
  const peer = startV1GoClientTo(t, gateway, {
    domain: DOMAIN,
    apiKey,
    localTarget: "127.0.0.1:9",
    proxyHeaders: { "x-forwarded-for": from },
  });
  return (await within(peer.ended, "the server to end the handshake")).grpcStatus;
}

describe("failed-authentication lockout across the servers of a gateway", { skip: pgSkip() }, () => {
  it("failures spread over A and B add up in the store; the block holds on both; other addresses are unaffected", async (t) => {
    const database = await createTestPgDatabase(t);
    const a = await startGateway(t, { dbDsn: database.dsn, ...FLAGS });
    const b = await startGateway(t, { dbDsn: database.dsn, ...FLAGS });
    await a.register(DOMAIN);

    // Two wrong tunnel keys on A, one wrong admin key on B: neither server alone reaches three.
    for (let i = 0; i < 2; i++)
      assert.equal(
        await handshakeStatus(t, a, GUESSER, `wrong-${i}-${"0".repeat(58)}`),
        GrpcCode.permissionDenied,
      );
    assert.equal(await adminStatus(b, GUESSER, "wrong-admin-key"), 401);

    const blockedAtMs = await pollUntil(
      async () => (await adminStatus(a, GUESSER, ADMIN_KEY)) === 429,
      PROPAGATION_LIMIT_MS,
      () => "A never refused the guesser with the right key",
      50,
    );
    assert.equal(await adminStatus(b, GUESSER, ADMIN_KEY), 429, "B refuses the guesser too");
    assert.equal(
      await handshakeStatus(t, b, GUESSER, "any-key"),
      GrpcCode.resourceExhausted,
      "B's tunnel endpoint too",
    );
    t.diagnostic(`block in force on both servers ${Date.now() - blockedAtMs} ms after A saw it`);
    assert.equal(await adminStatus(a, OTHER, ADMIN_KEY), 200, "another address is unaffected on A");
    assert.equal(await adminStatus(b, OTHER, ADMIN_KEY), 200, "and on B");
  });

  it("while PostgreSQL does not answer, each server's own limiter still blocks, and nobody else is blocked", async (t) => {
    const database = await cuttablePgDatabase(t);
    const a = await startGateway(t, { dbDsn: database.cuttableDsn, ...FLAGS });
    await a.register(DOMAIN);
    await database.cut();

    for (let i = 0; i < 3; i++) assert.equal(await adminStatus(a, GUESSER, `wrong-${i}`), 401);
    assert.equal(await adminStatus(a, GUESSER, ADMIN_KEY), 429, "the local limiter blocks without the store");
    // The right key from elsewhere passes authentication; the route then needs the store (503).
    const other = await adminStatus(a, OTHER, ADMIN_KEY);
    assert.ok(other !== 429 && other !== 401, `another address is not refused: ${other}`);

    await database.restore();
    await pollUntil(
      async () => (await adminStatus(a, OTHER, ADMIN_KEY)) === 200,
      15_000,
      () => "the store never answered again",
      200,
    );
    assert.equal(await adminStatus(a, GUESSER, ADMIN_KEY), 429, "the block outlives the outage");
  });
});
