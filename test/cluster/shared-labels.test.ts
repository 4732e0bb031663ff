import assert from "node:assert/strict";
import { describe, it, type TestContext } from "node:test";
import { GrpcCode } from "../../src/protocol/grpc-status.js";
import { startBackend } from "../helpers/backend.js";
import { startGateway, startTestClient } from "../helpers/gateway.js";
import { HostilePeer } from "../helpers/hostile-peer.js";
import { sendRequest } from "../helpers/http-request.js";
import { pollUntil } from "../helpers/poll-until.js";
import { createTestPgDatabase, cuttablePgDatabase, pgSkip } from "../helpers/postgres.js";
import { startServerProcess } from "../helpers/server-process.js";
import { startWorkersProcess } from "../helpers/workers-process.js";
import { tempDir } from "../helpers/temp-dir.js";
import { tlsFixture } from "../helpers/tls-fixture.js";
import { visit } from "../helpers/visit.js";
import { within } from "../helpers/within.js";

// The test certificate holds DNS:*.example.test.
const WILDCARD = "*.example.test";

type Outcome = { accepted: string } | { refused: number | undefined; message: string };

/**
 * A v2 tunnel of client instance `instanceId` for `domain` through the server on `port`; an
 * accepted one stays open until the test ends (its label stays held).
 */
async function tunnel(
  t: TestContext,
  port: number,
  domain: string,
  key: string,
  instanceId: string,
): Promise<Outcome> {
  const peer = new HostilePeer({ port, ca: tlsFixture().cert, domain, apiKey: key, version: 2, instanceId });
  t.after(() => peer.close());
  const accept = await within(peer.ready, "the handshake's answer");
  if (accept) return { accepted: accept.hostname };
  const end = await within(peer.ended, "the refusal");
  return { refused: end.grpcStatus, message: end.grpcMessage };
}

const accepted = (outcome: Outcome) => "accepted" in outcome;

describe("wildcard labels across the servers of a gateway", { skip: pgSkip() }, () => {
  it("two instances racing for one label on two servers: exactly one wins; the same instance holds it on both; the limit counts the whole gateway", async (t) => {
    const database = await createTestPgDatabase(t);
    const flags = { dbDsn: database.dsn, subdomainMaxLabels: "6" };
    const a = await startGateway(t, flags);
    const b = await startGateway(t, flags);
    const key = await a.register(WILDCARD);

    for (let i = 0; i < 5; i++) {
      const label = `race${i}.example.test`;
      const outcomes = await Promise.all([
        tunnel(t, a.port, label, key, `one-${i}`),
        tunnel(t, b.port, label, key, `two-${i}`),
      ]);
      assert.equal(outcomes.filter(accepted).length, 1, `${label}: ${JSON.stringify(outcomes)}`);
      const refused = outcomes.find((o) => !accepted(o));
      assert.ok(
        refused && "refused" in refused && refused.refused === GrpcCode.alreadyExists,
        JSON.stringify(refused),
      );
    }

    // One instance on both servers (a v2 client keeps a tunnel to each): both accepted.
    const both = await Promise.all([
      tunnel(t, a.port, "shared.example.test", key, "multi"),
      tunnel(t, b.port, "shared.example.test", key, "multi"),
    ]);
    assert.deepEqual(both, [{ accepted: "shared.example.test" }, { accepted: "shared.example.test" }]);
    const intruder = await tunnel(t, b.port, "shared.example.test", key, "intruder");
    assert.ok(!accepted(intruder), "another instance is refused on the server where it is also held");

    // Six labels are held across the two servers: a seventh is refused on either.
    const seventh = await tunnel(t, a.port, "seventh.example.test", key, "seventh");
    assert.ok(
      "refused" in seventh && seventh.refused === GrpcCode.resourceExhausted,
      JSON.stringify(seventh),
    );
    assert.match(seventh.message, /across the gateway/);
  });

  it("a wildcard's admin status on either server lists every label of the gateway with the server holding it", async (t) => {
    const database = await createTestPgDatabase(t);
    const adminApiKey = "shared-labels-admin-key-0123456789";
    const a = await startGateway(t, {
      dbDsn: database.dsn,
      adminApiKey,
      advertiseAddr: "a.gateway.test:443",
    });
    const b = await startGateway(t, { dbDsn: database.dsn, adminApiKey });
    const key = await a.register(WILDCARD);
    assert.deepEqual(await tunnel(t, a.port, "alpha.example.test", key, "one"), {
      accepted: "alpha.example.test",
    });
    assert.deepEqual(await tunnel(t, b.port, "beta.example.test", key, "two"), {
      accepted: "beta.example.test",
    });
    const status = async (port: number) => {
      const answer = await sendRequest(
        `https://127.0.0.1:${port}/api/v1/admin/domains/status?domain=${encodeURIComponent(WILDCARD)}`,
        { ca: tlsFixture().cert, headers: { host: "gateway.test", authorization: `Bearer ${adminApiKey}` } },
      );
      assert.equal(answer.status, 200, answer.text);
      return answer.json<Record<string, unknown>>();
    };
    const holders = [
      {
        hostname: "alpha.example.test",
        server: { id: a.server.serverId, advertise_address: "a.gateway.test:443" },
      },
      { hostname: "beta.example.test", server: { id: b.server.serverId, advertise_address: null } },
    ];
    for (const [name, server] of [
      ["a", a],
      ["b", b],
    ] as const) {
      const answer = await status(server.port);
      assert.deepEqual(answer.labels, ["alpha.example.test", "beta.example.test"], `labels on ${name}`);
      assert.deepEqual(answer.label_holders, holders, `label_holders on ${name}`);
      // The local fields stay this server's: one tunnel each.
      assert.equal(answer.live_sessions, 1, `live_sessions on ${name}`);
    }
  });

  it("a label held through a server killed with SIGKILL becomes free once that server expires from the registry", async (t) => {
    const database = await createTestPgDatabase(t);
    // A long grace: the label is freed by the holder's server's death, not by the grace.
    const env = { HOP_DB_DSN: database.dsn, HOP_SUBDOMAIN_GRACE_SECONDS: "600" };
    const holder = await startServerProcess(t, await tempDir(t), env);
    const survivor = await startServerProcess(t, await tempDir(t), env);
    const key = await holder.register(WILDCARD);
    const label = "held.example.test";
    assert.deepEqual(await tunnel(t, holder.httpsPort, label, key, "first"), { accepted: label });
    assert.ok(
      !accepted(await tunnel(t, survivor.httpsPort, label, key, "second")),
      "held while its server lives",
    );

    holder.process.child.kill("SIGKILL");
    const killedAtMs = Date.now();
    const early = await tunnel(t, survivor.httpsPort, label, key, "second");
    assert.ok(!accepted(early), "not freed at once: the registry's expiry has not passed");
    const freedAtMs = await pollUntil(
      async () => accepted(await tunnel(t, survivor.httpsPort, label, key, "second")),
      30_000,
      () => "the label of a killed server was never freed",
      500,
    );
    t.diagnostic(`label free ${freedAtMs - killedAtMs} ms after SIGKILL of its server`);
  });

  it("while PostgreSQL does not answer, a held label keeps serving and a new claim fails as unavailable", async (t) => {
    const database = await cuttablePgDatabase(t);
    const gateway = await startGateway(t, { dbDsn: database.cuttableDsn });
    const key = await gateway.register(WILDCARD);
    const backend = await startBackend(t, (req, res) => res.end(`served ${req.headers.host}`));
    const client = startTestClient(t, gateway, "kept.example.test", key, [`web=${backend.url}`]);
    await client.connected;

    await database.cut();
    const served = await visit(gateway.port, "kept.example.test", "/", { timeoutMs: 5_000 });
    assert.equal(served.status, 200);
    assert.equal(served.body.toString(), "served kept.example.test");
    const refused = await tunnel(t, gateway.port, "new.example.test", key, "newcomer");
    assert.ok("refused" in refused && refused.refused === GrpcCode.unavailable, JSON.stringify(refused));
  });
});

describe("wildcard labels across the workers of one host (embedded SQLite)", () => {
  it("a label held through one worker is refused to another instance on every worker, and given to its own instance again", async (t) => {
    const workers = await startWorkersProcess(t, await tempDir(t), 2);
    const key = await workers.register(WILDCARD);
    const label = "worker.example.test";
    assert.deepEqual(await tunnel(t, workers.httpsPort, label, key, "first"), { accepted: label });
    // New connections land on either worker (round robin): four tries reach both.
    for (let i = 0; i < 4; i++) {
      const other = await tunnel(t, workers.httpsPort, label, key, "second");
      assert.ok("refused" in other && other.refused === GrpcCode.alreadyExists, JSON.stringify(other));
      assert.deepEqual(await tunnel(t, workers.httpsPort, label, key, "first"), { accepted: label });
    }
    // Either worker's admin status lists the label and the worker holding it, from the store.
    for (let i = 0; i < 4; i++) {
      const status = await workers.admin(`/domains/status?domain=${encodeURIComponent(WILDCARD)}`);
      assert.equal(status.status, 200, status.text);
      const body = status.json<{
        labels: string[];
        label_holders: Array<{ hostname: string; server: { id: string } }>;
      }>();
      assert.deepEqual(body.labels, [label]);
      // The one instance may hold it through both workers: a row per worker.
      assert.ok(body.label_holders.length > 0, "a holder is listed");
      for (const holder of body.label_holders) {
        assert.equal(holder.hostname, label);
        assert.ok(workers.serverIds().includes(holder.server.id), `${holder.server.id} is a worker's id`);
      }
    }
  });
});
