import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { echoHandler, startBackend } from "../helpers/backend.js";
import { freePort } from "../helpers/free-port.js";
import { pollUntil } from "../helpers/poll-until.js";
import { createTestPgDatabase, pgSkip } from "../helpers/postgres.js";
import { startClientProcess } from "../helpers/server-process.js";
import { startTcpProxy } from "../helpers/tcp-proxy.js";
import { visit } from "../helpers/visit.js";
import { within } from "../helpers/within.js";
import { startPeerServer, type PeerServer } from "./peer-cluster.js";

const DOMAIN = "outage.example.test";

async function status(server: PeerServer, timeoutMs = 10_000): Promise<number> {
  return (await visit(server.httpsPort, DOMAIN, "/", { timeoutMs }).catch(() => ({ status: 0 }))).status;
}

describe("peer link outages (docs/scale-out.md)", { skip: pgSkip() }, () => {
  it("a PostgreSQL outage keeps established peer links and their routes: relayed requests keep answering 200 past the registry's expiry", async (t) => {
    const database = await createTestPgDatabase();
    t.after(() => database.drop());
    const url = new URL(database.dsn);
    const proxy = await startTcpProxy({ host: url.hostname, port: Number(url.port || 5432) }, (fn) =>
      t.after(fn),
    );
    url.host = `127.0.0.1:${proxy.port}`;
    const backend = await startBackend(t, echoHandler);
    const a = await startPeerServer(t, url.toString());
    const key = await a.register(DOMAIN);
    const b = await startPeerServer(t, url.toString());
    startClientProcess(t, {
      serverPort: a.httpsPort,
      caFile: a.caFile,
      domain: DOMAIN,
      apiKey: key,
      backendUrl: backend.url,
    });
    await pollUntil(
      async () => (await status(b)) === 200,
      30_000,
      () => "B never relayed",
      200,
    );

    await proxy.cut();
    const cutAtMs = Date.now();
    // 12 s: past the registry's 10 s expiry, which nothing can apply while the database is away.
    while (Date.now() - cutAtMs < 12_000) {
      const answer = await within(
        visit(b.httpsPort, DOMAIN, "/", { timeoutMs: 10_000 }),
        "a relayed request during the outage",
      );
      assert.equal(answer.status, 200);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    await proxy.restore();
  });

  it("a peer that stops answering (the network between them stalls) loses its routes after the PING timeout: relays answer 502 instead of hanging", async (t) => {
    const database = await createTestPgDatabase();
    t.after(() => database.drop());
    const backend = await startBackend(t, echoHandler);
    // A's peer listener is reached only through a TCP hop the test can stall.
    const peerPort = await freePort();
    const hop = await startTcpProxy({ host: "127.0.0.1", port: peerPort }, (fn) => t.after(fn));
    const a = await startPeerServer(t, database.dsn, {
      HOP_SERVER_PEER_LISTEN: `127.0.0.1:${peerPort}`,
      HOP_SERVER_PEER_ADVERTISE_ADDR: `127.0.0.1:${hop.port}`,
      HOP_SERVER_TUNNEL_WAIT_SECONDS: "0",
    });
    const key = await a.register(DOMAIN);
    const b = await startPeerServer(t, database.dsn, { HOP_SERVER_TUNNEL_WAIT_SECONDS: "0" });
    startClientProcess(t, {
      serverPort: a.httpsPort,
      caFile: a.caFile,
      domain: DOMAIN,
      apiKey: key,
      backendUrl: backend.url,
    });
    await pollUntil(
      async () => (await status(b)) === 200,
      30_000,
      () => "B never relayed",
      200,
    );

    hop.stall();
    const stalledAtMs = Date.now();
    const answeredAtMs = await pollUntil(
      async () => (await status(b, 3_000)) === 502,
      20_000,
      () => "B kept the stalled peer's routes",
      100,
    );
    t.diagnostic(`B answered 502 ${answeredAtMs - stalledAtMs} ms after the link stalled`);
  });
});
