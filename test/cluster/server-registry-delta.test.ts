import assert from "node:assert/strict";
import { describe, it } from "node:test";
import pg from "pg";
import { startBackend } from "../helpers/backend.js";
import { startGateway, startTestClient } from "../helpers/gateway.js";
import { pollUntil } from "../helpers/poll-until.js";
import { createTestPgDatabase, pgSkip } from "../helpers/postgres.js";
import { visit } from "../helpers/visit.js";

/** Heartbeats are 2 s apart: this spans at least two of them. */
const HEARTBEATS_MS = 5_000;

describe("server registry heartbeat (docs/scale-out.md, limits)", { skip: pgSkip() }, () => {
  it("rewrites only the session rows that changed: an idle session's row is left alone, a busy one's is updated", async (t) => {
    const database = await createTestPgDatabase(t);
    const gateway = await startGateway(t, { dbDsn: database.dsn, pingIntervalSeconds: "300" });
    const backend = await startBackend(t, (_req, res) => res.end("ok"));
    const names = ["idle.example.test", "busy.example.test"];
    for (const name of names) {
      const client = startTestClient(t, gateway, name, await gateway.register(name), [`web=${backend.url}`]);
      await client.connected;
    }
    const observer = new pg.Client({ connectionString: database.dsn });
    observer.on("error", () => {});
    await observer.connect();
    t.after(() => observer.end());
    // xmin: the transaction that wrote the row version; any rewrite changes it.
    const versions = async () =>
      new Map(
        (
          await observer.query<{ domain: string; xmin: string }>(
            "select domain, xmin::text from tunnel_sessions",
          )
        ).rows.map((r) => [r.domain, r.xmin]),
      );
    await pollUntil(
      async () => (await versions()).size === 2,
      10_000,
      () => "sessions never mirrored",
      100,
    );
    // Let the writes of the connections settle (bytes of the handshakes), then take a baseline.
    await new Promise((resolve) => setTimeout(resolve, HEARTBEATS_MS));
    const before = await versions();

    assert.equal((await visit(gateway.port, names[1]!, "/")).status, 200);
    await new Promise((resolve) => setTimeout(resolve, HEARTBEATS_MS));
    const after = await versions();
    assert.equal(after.get(names[0]!), before.get(names[0]!), "the idle session's row was rewritten");
    assert.notEqual(
      after.get(names[1]!),
      before.get(names[1]!),
      "the busy session's counters were not written",
    );
  });
});
