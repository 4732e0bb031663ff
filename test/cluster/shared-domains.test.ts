import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import pg from "pg";
import { startBackend } from "../helpers/backend.js";
import { startGateway, startTestClient, type Gateway } from "../helpers/gateway.js";
import { pollUntil } from "../helpers/poll-until.js";
import { createTestPgDatabase, cuttablePgDatabase, pgSkip } from "../helpers/postgres.js";
import { tempDir } from "../helpers/temp-dir.js";
import { visit } from "../helpers/visit.js";

/**
 * Tells a propagation of about a second from the 30 s safety-net refresh, with a wide margin
 * for a busy 2-core machine.
 */
const PROPAGATION_LIMIT_MS = 5_000;

/**
 * Domain changes made through server A reach server B (another server on the same store) within
 * about a second: a registration is served, a removal or a key rotation closes B's tunnels of
 * the domain and refuses its visitors, an access policy is enforced (docs/scale-out.md).
 */
async function checkPropagation(t: TestContext, a: Gateway, b: Gateway): Promise<void> {
  const backend = await startBackend(t, (req, res) => res.end(`served ${req.headers.host}`));
  const domain = "shared.example.test";
  const statusOnB = async (name: string) => (await visit(b.port, name, "/", { timeoutMs: 5_000 })).status;
  /** Resolves with the time B first answered `status` for `name`. */
  const untilStatusOnB = (name: string, status: number, never: string) =>
    pollUntil(
      async () => (await statusOnB(name)) === status,
      PROPAGATION_LIMIT_MS,
      () => never,
      25,
    );
  /** Registers `name` through A, connects its client to B; resolves with the time B serves it. */
  const serveOnB = async (name: string, never: string) => {
    const client = startTestClient(t, b, name, await a.register(name), [`web=${backend.url}`]);
    await client.connected;
    return untilStatusOnB(name, 200, never);
  };
  assert.notEqual(await statusOnB(domain), 200, "not served before it is registered");

  const registeredAtMs = Date.now();
  const servedAtMs = await serveOnB(domain, "B never served the domain registered on A");
  t.diagnostic(
    `registration on A served on B after ${servedAtMs - registeredAtMs} ms (with the client's connection)`,
  );

  // An access policy set through A: B refuses the visitor it denies.
  const policyAtMs = Date.now();
  await a.server.access.put(domain, { basic_auth: [], allow: [], deny: ["127.0.0.0/8"] });
  const deniedAtMs = await untilStatusOnB(domain, 403, "B never enforced the policy set on A");
  t.diagnostic(`access policy set on A enforced on B after ${deniedAtMs - policyAtMs} ms`);
  await a.server.access.clear(domain);
  await untilStatusOnB(domain, 200, "B never lifted the policy cleared on A");

  // The key rotated through A: B ends the tunnel that authenticated with the old key.
  const rotatedMs = await msUntilTunnelClosed(
    b,
    domain,
    () => a.server.domains.rotateKey(domain),
    "B kept the tunnel of a key rotated on A",
  );
  t.diagnostic(`key rotated on A: tunnel on B closed after ${rotatedMs} ms`);

  // Registered again with a client on B, then removed through A: tunnel closed, visitors refused.
  const other = "removed.example.test";
  await serveOnB(other, "B never served the second domain");
  const removedMs = await msUntilTunnelClosed(
    b,
    other,
    () => a.server.domains.revoke(other),
    "B kept the tunnel of a domain removed on A",
  );
  t.diagnostic(`domain removed on A: tunnel on B closed after ${removedMs} ms`);
  assert.equal(await statusOnB(other), 404, "B refuses its visitors");
}

/**
 * Makes `change`, then resolves with the ms from its start until `server` holds no tunnel of
 * `domain`; fails with `never` past `timeoutMs`.
 */
async function msUntilTunnelClosed(
  server: Gateway,
  domain: string,
  change: () => Promise<unknown>,
  never: string,
  timeoutMs = PROPAGATION_LIMIT_MS,
): Promise<number> {
  const changedAtMs = Date.now();
  await change();
  const closedAtMs = await pollUntil(
    () => !server.server.registry.hasTunnel(domain),
    timeoutMs,
    () => never,
    10,
  );
  return closedAtMs - changedAtMs;
}

describe("domain changes across the servers of a gateway", () => {
  it(
    "PostgreSQL (LISTEN/NOTIFY): a change made through A is in force on B within a second or two",
    { skip: pgSkip() },
    async (t) => {
      const database = await createTestPgDatabase(t);
      const a = await startGateway(t, { dbDsn: database.dsn });
      const b = await startGateway(t, { dbDsn: database.dsn });
      await checkPropagation(t, a, b);
    },
  );

  it("SQLite (a change counter polled every second): the same, for servers sharing one store file", async (t) => {
    const dataDir = join(await tempDir(t), "data");
    const a = await startGateway(t, { dataDir });
    const b = await startGateway(t, { dataDir });
    await checkPropagation(t, a, b);
  });

  it(
    "PostgreSQL: a tunnel B accepted for a domain it had not reloaded yet closes when the domain is removed",
    { skip: pgSkip() },
    async (t) => {
      const database = await createTestPgDatabase(t);
      const a = await startGateway(t, { dbDsn: database.dsn });
      const b = await startGateway(t, { dbDsn: database.dsn });
      const backend = await startBackend(t, (_req, res) => res.end("ok"));
      const domain = "unseen.example.test";
      // Registered without a notification: what B sees when the notification came before its
      // listener did, or when the reload it started failed (the store went away meanwhile).
      const admin = new pg.Client({ connectionString: database.dsn });
      await admin.connect();
      let key: string;
      try {
        await admin.query("alter table domains disable trigger domains_changed");
        key = await a.register(domain);
        await admin.query("alter table domains enable trigger domains_changed");
      } finally {
        await admin.end();
      }
      const client = startTestClient(t, b, domain, key, [`web=${backend.url}`]);
      await client.connected;
      assert.equal(b.server.registry.hasTunnel(domain), true);

      const closedMs = await msUntilTunnelClosed(
        b,
        domain,
        () => a.server.domains.revoke(domain),
        "B kept the tunnel of a domain it learned of only from the tunnel's login",
      );
      t.diagnostic(`domain removed on A: tunnel on B closed after ${closedMs} ms`);
    },
  );

  it(
    "PostgreSQL: a change made while B's listener was cut off reaches B once it reconnects, not 30 s later",
    { skip: pgSkip() },
    async (t) => {
      const database = await cuttablePgDatabase(t);
      const a = await startGateway(t, { dbDsn: database.dsn });
      const b = await startGateway(t, { dbDsn: database.cuttableDsn });
      const backend = await startBackend(t, (_req, res) => res.end("ok"));
      const domain = "cut-off.example.test";
      const client = startTestClient(t, b, domain, await a.register(domain), [`web=${backend.url}`]);
      await client.connected;

      await database.cut();
      await a.server.domains.revoke(domain);
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      assert.equal(b.server.registry.hasTunnel(domain), true, "B cannot know while cut off");
      const closedMs = await msUntilTunnelClosed(
        b,
        domain,
        () => database.restore(),
        "B did not reload after its listener reconnected",
        // The listener retries with a doubling backoff that grew during the cut (up to 4 s
        // here), then reloads through a pool whose connections were cut too; under the 30 s
        // refresh, so the refresh alone would mostly not pass.
        15_000,
      );
      t.diagnostic(`listener back: tunnel of the domain removed meanwhile closed after ${closedMs} ms`);
    },
  );
});
