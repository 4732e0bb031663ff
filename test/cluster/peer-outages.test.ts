import assert from "node:assert/strict";
import { describe, it, type TestContext } from "node:test";
import { echoHandler, startBackend } from "../helpers/backend.js";
import { freePort } from "../helpers/free-port.js";
import { pollUntil } from "../helpers/poll-until.js";
import { createTestPgDatabase, cuttablePgDatabase, pgSkip } from "../helpers/postgres.js";
import { startClientProcess } from "../helpers/server-process.js";
import { startTcpProxy } from "../helpers/tcp-proxy.js";
import { visit } from "../helpers/visit.js";
import { within } from "../helpers/within.js";
import { startPeerServer, type PeerServer } from "./peer-cluster.js";

const DOMAIN = "outage.example.test";

async function status(server: PeerServer, timeoutMs = 10_000): Promise<number> {
  return (await visit(server.httpsPort, DOMAIN, "/", { timeoutMs }).catch(() => ({ status: 0 }))).status;
}

/**
 * Servers A and B on `dsn` (each with its `env`), a client on A serving DOMAIN from an echo
 * backend; resolves with B once it relays DOMAIN to A.
 */
async function startRelay(
  t: TestContext,
  dsn: string,
  env: { a?: Record<string, string>; b?: Record<string, string> } = {},
): Promise<PeerServer> {
  const backend = await startBackend(t, echoHandler);
  const a = await startPeerServer(t, dsn, env.a);
  const key = await a.register(DOMAIN);
  const b = await startPeerServer(t, dsn, env.b);
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
  return b;
}

describe("peer link outages (docs/scale-out.md)", { skip: pgSkip() }, () => {
  it("a PostgreSQL outage keeps established peer links and their routes: relayed requests keep answering 200 past the registry's expiry", async (t) => {
    const database = await cuttablePgDatabase(t);
    const b = await startRelay(t, database.cuttableDsn);

    await database.cut();
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
    await database.restore();
  });

  it("a peer that stops answering (the network between them stalls) loses its routes after the PING timeout: relays answer 502 instead of hanging", async (t) => {
    const database = await createTestPgDatabase(t);
    // A's peer listener is reached only through a TCP hop the test can stall.
    const peerPort = await freePort();
    const hop = await startTcpProxy({ host: "127.0.0.1", port: peerPort }, (fn) => t.after(fn));
    const b = await startRelay(t, database.dsn, {
      a: {
        HOP_SERVER_PEER_LISTEN: `127.0.0.1:${peerPort}`,
        HOP_SERVER_PEER_ADVERTISE_ADDR: `127.0.0.1:${hop.port}`,
        HOP_SERVER_TUNNEL_WAIT_SECONDS: "0",
      },
      b: { HOP_SERVER_TUNNEL_WAIT_SECONDS: "0" },
    });

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
