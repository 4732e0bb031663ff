import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { echoHandler, startBackend } from "../helpers/backend.js";
import { pollUntil } from "../helpers/poll-until.js";
import { createTestPgDatabase, pgSkip } from "../helpers/postgres.js";
import { startClientProcess } from "../helpers/server-process.js";
import { visit } from "../helpers/visit.js";
import { within } from "../helpers/within.js";
import { startPeerServer, startRoundRobinFront, type PeerServer } from "./peer-cluster.js";

const DOMAIN = "failover.example.test";

async function status(server: PeerServer): Promise<number> {
  return (await visit(server.httpsPort, DOMAIN, "/", { timeoutMs: 10_000 }).catch(() => ({ status: 0 })))
    .status;
}

describe("relay when the holder dies (docs/scale-out.md)", { skip: pgSkip() }, () => {
  it("kill -9 of the server holding the tunnel: relays fail fast; once the client reconnects through the round-robin front, every survivor answers 200", async (t) => {
    const database = await createTestPgDatabase(t);
    const backend = await startBackend(t, echoHandler);
    const first = await startPeerServer(t, database.dsn);
    // Registered before the others start, so that each knows it as registered: a domain
    // registered later reaches the others' memory by the 30 s refresh (step 4 of docs/scale-out.md).
    const key = await first.register(DOMAIN);
    const servers = [first, await startPeerServer(t, database.dsn), await startPeerServer(t, database.dsn)];
    const front = await startRoundRobinFront(
      t,
      servers.map((s) => s.httpsPort),
    );
    const client = startClientProcess(t, {
      serverPort: front.port,
      caFile: servers[0]!.caFile,
      domain: DOMAIN,
      apiKey: key,
      backendUrl: backend.url,
    });
    await client.waitForLine((line) => line.msg === "tunnel accepted", 30_000);
    for (const server of servers)
      await pollUntil(
        async () => (await status(server)) === 200,
        30_000,
        () => `port ${server.httpsPort} never 200`,
        200,
      );

    const holder = servers.find((s) => s.httpsPort === front.picks[0])!;
    const survivors = servers.filter((s) => s !== holder);
    const acceptedBefore = client.lines.filter((line) => line.msg === "tunnel accepted").length;
    holder.process.child.kill("SIGKILL");
    await holder.process.exited;
    // Until the client is back, a survivor answers at once (502, or 200 if it is already back): no hang.
    for (const server of survivors) {
      const startedAtMs = Date.now();
      const answer = await within(
        visit(server.httpsPort, DOMAIN, "/during"),
        "a request right after the kill",
      );
      assert.ok([200, 502].includes(answer.status), `status ${answer.status}`);
      t.diagnostic(
        `port ${server.httpsPort}: ${answer.status} in ${Date.now() - startedAtMs} ms right after the kill`,
      );
    }
    await pollUntil(
      () => client.lines.filter((line) => line.msg === "tunnel accepted").length > acceptedBefore,
      30_000,
      () => "the client never reconnected",
      50,
    );
    const reconnectedAtMs = Date.now();
    for (const server of survivors) {
      const answeredAtMs = await pollUntil(
        async () => (await status(server)) === 200,
        15_000,
        () => `port ${server.httpsPort} did not answer 200 after the reconnect`,
        50,
      );
      t.diagnostic(
        `port ${server.httpsPort}: 200 ${answeredAtMs - reconnectedAtMs} ms after the reconnect was seen`,
      );
    }
  });
});
