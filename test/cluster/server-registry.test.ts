import assert from "node:assert/strict";
import { describe, it, type TestContext } from "node:test";
import pg from "pg";
import { z } from "zod";
import { startBackend, echoHandler } from "../helpers/backend.js";
import { sendRequest } from "../helpers/http-request.js";
import { pollUntil } from "../helpers/poll-until.js";
import { createTestPgDatabase, pgSkip } from "../helpers/postgres.js";
import {
  MAIN_DOMAIN,
  startClientProcess,
  startServerProcess,
  type ServerProcess,
} from "../helpers/server-process.js";
import { tempDir } from "../helpers/temp-dir.js";
import { tlsFixture } from "../helpers/tls-fixture.js";

interface ListedSession {
  id: string;
  domain: string;
  server?: { id: string; advertise_address: string | null };
}

async function adminSessions(server: ServerProcess): Promise<ListedSession[]> {
  const answer = await sendRequest(`https://127.0.0.1:${server.httpsPort}/api/v1/admin/sessions`, {
    ca: tlsFixture().cert,
    headers: { host: MAIN_DOMAIN, authorization: `Bearer ${server.adminApiKey}` },
  });
  assert.equal(answer.status, 200, answer.text);
  return answer.json<{ sessions: ListedSession[] }>().sessions;
}

/** The id the server drew for the registry, from its log. */
async function serverId(server: ServerProcess): Promise<string> {
  const line = await server.process.waitForLine((l) => l.msg === "joined the server registry");
  return String(line.server_id);
}

/** `domain`'s sessions as `server` lists them, as "domain@advertise-address" strings, sorted. */
function holders(sessions: ListedSession[]): string[] {
  return sessions.map((s) => `${s.domain}@${s.server?.advertise_address ?? "-"}`).sort();
}

async function startPgServer(t: TestContext, dsn: string, advertise: string): Promise<ServerProcess> {
  return startServerProcess(t, await tempDir(t), {
    HOP_DB_DSN: dsn,
    HOP_SERVER_ADVERTISE_ADDR: advertise,
  });
}

describe("server registry (docs/scale-out.md)", { skip: pgSkip() }, () => {
  it("two servers on one PostgreSQL database: admin sessions on either lists both clients with the server holding each; a server killed with SIGKILL leaves the list after the expiry; one started later joins it", async (t) => {
    const database = await createTestPgDatabase(t);
    const backend = await startBackend(t, echoHandler);
    const a = await startPgServer(t, database.dsn, "a.gateway.test:8443");
    const b = await startPgServer(t, database.dsn, "b.gateway.test:8443");
    const [idA, idB] = [await serverId(a), await serverId(b)];
    assert.notEqual(idA, idB);

    const keyA = await a.register("app-a.example.com");
    const keyB = await a.register("app-b.example.com");
    startClientProcess(t, {
      serverPort: a.httpsPort,
      caFile: a.caFile,
      domain: "app-a.example.com",
      apiKey: keyA,
      backendUrl: backend.url,
    });
    startClientProcess(t, {
      serverPort: b.httpsPort,
      caFile: b.caFile,
      domain: "app-b.example.com",
      apiKey: keyB,
      backendUrl: backend.url,
    });

    const expected = ["app-a.example.com@a.gateway.test:8443", "app-b.example.com@b.gateway.test:8443"];
    for (const server of [a, b]) {
      let last: ListedSession[] = [];
      await pollUntil(
        async () => {
          last = await adminSessions(server);
          return holders(last).join() === expected.join();
        },
        20_000,
        () => `port ${server.httpsPort} listed ${JSON.stringify(last)}`,
        200,
      );
      const byDomain = new Map(last.map((s) => [s.domain, s]));
      assert.equal(byDomain.get("app-a.example.com")?.server?.id, idA);
      assert.equal(byDomain.get("app-b.example.com")?.server?.id, idB);
    }
    // The OpenAPI document describes the field, and the answer matches it.
    const document = (
      await sendRequest(`https://127.0.0.1:${b.httpsPort}/api/v1/admin/openapi.json`, {
        ca: tlsFixture().cert,
        headers: { host: MAIN_DOMAIN, authorization: `Bearer ${b.adminApiKey}` },
      })
    ).json<{ components: { schemas: Record<string, z.core.JSONSchema.JSONSchema> } }>();
    const sessionSchema = document.components.schemas.Session!;
    assert.ok(sessionSchema.properties?.server, "the Session schema has a server field");
    // The schema's references point into the document's components: resolve them as $defs.
    const withDefinitions = JSON.parse(
      JSON.stringify({ ...sessionSchema, $defs: document.components.schemas }).replaceAll(
        "#/components/schemas/",
        "#/$defs/",
      ),
    ) as z.core.JSONSchema.JSONSchema;
    const parsed = z.array(z.fromJSONSchema(withDefinitions)).safeParse(await adminSessions(b));
    assert.ok(parsed.success, parsed.error?.message);
    // The domain filter applies to other servers' sessions too.
    const filtered = await sendRequest(
      `https://127.0.0.1:${a.httpsPort}/api/v1/admin/sessions?domain=app-b.example.com`,
      { ca: tlsFixture().cert, headers: { host: MAIN_DOMAIN, authorization: `Bearer ${a.adminApiKey}` } },
    );
    assert.deepEqual(holders(filtered.json<{ sessions: ListedSession[] }>().sessions), [expected[1]]);

    b.process.child.kill("SIGKILL");
    await b.process.exited;
    const killedAtMs = Date.now();
    let last: ListedSession[] = [];
    const goneAtMs = await pollUntil(
      async () => {
        last = await adminSessions(a);
        return holders(last).join() === expected[0];
      },
      // Expiry 10 s after B's last heartbeat; a wide margin on a shared machine.
      30_000,
      () => `after SIGKILL of B, A still listed ${JSON.stringify(last)}`,
      250,
    );
    t.diagnostic(`B left A's list ${goneAtMs - killedAtMs} ms after SIGKILL`);
    // And A's heartbeat deletes B's rows (its sessions by cascade).
    const client = new pg.Client({ connectionString: database.dsn });
    await client.connect();
    try {
      await pollUntil(
        async () => {
          const rows = await client.query<{ n: string }>(
            "select count(*) as n from servers where id = $1 union all select count(*) from tunnel_sessions where server_id = $1",
            [idB],
          );
          return rows.rows.every((r) => r.n === "0");
        },
        15_000,
        () => "B's rows were not deleted",
        250,
      );
    } finally {
      await client.end();
    }

    // A server that joins later is listed without any restart of A, with the client that moved to it.
    const c = await startPgServer(t, database.dsn, "c.gateway.test:8443");
    const idC = await serverId(c);
    startClientProcess(t, {
      serverPort: c.httpsPort,
      caFile: c.caFile,
      domain: "app-b.example.com",
      apiKey: keyB,
      backendUrl: backend.url,
    });
    const rejoined = [expected[0]!, "app-b.example.com@c.gateway.test:8443"];
    await pollUntil(
      async () => {
        last = await adminSessions(a);
        return holders(last).join() === rejoined.join();
      },
      20_000,
      () => `after C joined, A listed ${JSON.stringify(last)}`,
      200,
    );
    assert.equal(last.find((s) => s.domain === "app-b.example.com")?.server?.id, idC);
  });
});

describe("server registry with the embedded store", () => {
  it("a single SQLite server lists its sessions as before, without a server field", async (t) => {
    const backend = await startBackend(t, echoHandler);
    const server = await startServerProcess(t, await tempDir(t));
    const key = await server.register("solo.example.com");
    startClientProcess(t, {
      serverPort: server.httpsPort,
      caFile: server.caFile,
      domain: "solo.example.com",
      apiKey: key,
      backendUrl: backend.url,
    });
    let last: ListedSession[] = [];
    await pollUntil(
      async () => (last = await adminSessions(server)).length === 1,
      20_000,
      () => `listed ${JSON.stringify(last)}`,
      200,
    );
    assert.equal(last[0]?.domain, "solo.example.com");
    assert.equal("server" in (last[0] ?? {}), false);
    assert.equal(
      server.process.lines.some((l) => l.msg === "joined the server registry"),
      false,
    );
  });
});
