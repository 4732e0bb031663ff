import assert from "node:assert/strict";
import { describe, it } from "node:test";
import pg from "pg";
import { startBackend } from "../helpers/backend.js";
import { startGateway, startTestClient } from "../helpers/gateway.js";
import { captureLogs } from "../helpers/log-capture.js";
import { pollUntil } from "../helpers/poll-until.js";
import { cuttablePgDatabase, pgSkip } from "../helpers/postgres.js";
import { visit } from "../helpers/visit.js";

describe("server registry during a PostgreSQL outage", { skip: pgSkip() }, () => {
  it("tunnels and requests go on undelayed, failed writes are logged once and counted, and the session mirror is rewritten when the store returns", async (t) => {
    const database = await cuttablePgDatabase(t);
    const logs = captureLogs();
    const gateway = await startGateway(
      t,
      { dbDsn: database.cuttableDsn, advertiseAddr: "a.gateway.test:443" },
      logs.logger,
    );
    const names = ["stays.example.test", "leaves.example.test"];
    const backend = await startBackend(t, (req, res) => res.end(req.headers.host));
    const stays = startTestClient(t, gateway, names[0]!, await gateway.register(names[0]!), [
      `web=${backend.url}`,
    ]);
    const leaves = startTestClient(t, gateway, names[1]!, await gateway.register(names[1]!), [
      `web=${backend.url}`,
    ]);
    await Promise.all([stays.connected, leaves.connected]);

    const observer = new pg.Client({ connectionString: database.dsn });
    observer.on("error", () => {});
    await observer.connect();
    const mirrored = async () =>
      (await observer.query<{ domain: string }>("select domain from tunnel_sessions order by domain")).rows
        .map((r) => r.domain)
        .join();
    try {
      await pollUntil(
        async () => (await mirrored()) === [...names].sort().join(),
        10_000,
        () => "both sessions were never mirrored",
        100,
      );

      await database.cut();
      const before = logs.lines.length;
      // A tunnel closing during the outage: its removal cannot be written now.
      await (await leaves.handle).stop();
      for (let i = 0; i < 10; i++) {
        const startedAtMs = Date.now();
        const response = await visit(gateway.port, names[0]!, "/", { timeoutMs: 5_000 });
        assert.equal(response.status, 200);
        assert.equal(response.body.toString(), names[0]);
        // Not delayed by the store: a wide margin, far below the 5 s query timeout.
        assert.ok(Date.now() - startedAtMs < 2_000, `request took ${Date.now() - startedAtMs} ms`);
        await new Promise((resolve) => setTimeout(resolve, 300));
      }
      await pollUntil(
        () => logs.since(before, "server registry write failed").length > 0,
        10_000,
        () => "no warning for the failed registry write",
      );
      const metrics = await (await fetch(`http://127.0.0.1:${gateway.server.metricsPort}/metrics`)).text();
      const failures = /^hopgate_server_registry_write_failures_total (\d+)/m.exec(metrics);
      assert.ok(failures && Number(failures[1]) >= 1, `failure counter: ${failures?.[0]}`);
      // Several failed heartbeats, one warning.
      assert.equal(logs.since(before, "server registry write failed").length, 1);
      assert.equal(await mirrored(), [...names].sort().join(), "the mirror still holds the closed session");

      await database.restore();
      await pollUntil(
        async () => (await mirrored()) === names[0],
        15_000,
        () => "the closed session was not removed once the store returned",
        200,
      );
      assert.equal(logs.since(before, "server registry written again").length, 1);
    } finally {
      await observer.end();
    }
  });
});
