import assert from "node:assert/strict";
import { describe, it, type TestContext } from "node:test";
import { startBackend, echoHandler } from "../helpers/backend.js";
import { freePort } from "../helpers/free-port.js";
import { HostilePeer } from "../helpers/hostile-peer.js";
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

const DOMAIN = "multi.example.test";
const V1_DOMAIN = "v1-peer.example.test";
const V2_DOMAIN = "v2-peer.example.test";

interface ListedSession {
  id: string;
  domain: string;
  bytes_to_client: number;
  server?: { id: string; advertise_address: string | null };
}

/** A server of the gateway, advertised as 127.0.0.1:<its TLS port> (the test certificate covers it). */
interface GatewayServer extends ServerProcess {
  readonly advertise: string;
}

async function startGatewayServer(t: TestContext, dsn: string): Promise<GatewayServer> {
  const port = await freePort();
  const advertise = `127.0.0.1:${port}`;
  const server = await startServerProcess(
    t,
    await tempDir(t),
    { HOP_DB_DSN: dsn, HOP_SERVER_ADVERTISE_ADDR: advertise },
    advertise,
  );
  return { ...server, advertise };
}

async function adminSessions(server: ServerProcess): Promise<ListedSession[]> {
  const answer = await sendRequest(`https://127.0.0.1:${server.httpsPort}/api/v1/admin/sessions`, {
    ca: tlsFixture().cert,
    headers: { host: MAIN_DOMAIN, authorization: `Bearer ${server.adminApiKey}` },
  });
  assert.equal(answer.status, 200, answer.text);
  return answer.json<{ sessions: ListedSession[] }>().sessions;
}

/** This server's own session of DOMAIN (live figures), if it holds one. */
async function ownSession(server: GatewayServer): Promise<ListedSession | undefined> {
  const sessions = await adminSessions(server);
  return sessions.find((s) => s.domain === DOMAIN && s.server?.advertise_address === server.advertise);
}

/** A visitor's POST through `server` (a body, so that the session's byte counters move). */
function visit(server: ServerProcess, path = "/") {
  return sendRequest(`https://127.0.0.1:${server.httpsPort}${path}`, {
    method: "POST",
    ca: tlsFixture().cert,
    headers: { host: DOMAIN },
    body: "through one server",
  });
}

/** A visitor's request through `server` answered 200, carried by that server's own tunnel. */
async function assertServedByOwnTunnel(server: GatewayServer): Promise<void> {
  const before = await ownSession(server);
  assert.ok(before, `${server.advertise} holds no tunnel of ${DOMAIN}`);
  const answer = await visit(server, `/through/${server.httpsPort}`);
  assert.equal(answer.status, 200, `through ${server.advertise}: ${answer.status} ${answer.text}`);
  const after = await ownSession(server);
  assert.equal(after?.id, before.id);
  assert.ok(after.bytes_to_client > before.bytes_to_client, "the request went down this server's tunnel");
}

/** Time from `sinceMs` until `server` answered a visitor's request with 200, and which try it was. */
async function msUntilServed(server: GatewayServer, sinceMs: number): Promise<string> {
  let last = "";
  let tries = 0;
  const atMs = await pollUntil(
    async () => {
      tries++;
      const answer = await visit(server).catch((error: unknown) => ({ status: 0, text: String(error) }));
      last = `${answer.status} ${answer.text.slice(0, 200)}`;
      return answer.status === 200;
    },
    // Wide: tells working from broken on a shared machine; the figure is reported, not asserted.
    10_000,
    () => `${server.advertise} did not answer 200 after the kill: ${last}`,
    20,
  );
  return `${atMs - sinceMs} ms (request ${tries})`;
}

describe("multi-tunnel v2 clients (docs/scale-out.md)", { skip: pgSkip() }, () => {
  it("a client given one server's address holds a tunnel to every live server: each serves the domain from its own tunnel, survivors answer at once after SIGKILL of one, a server joining later is used without restart, a server stopped cleanly is let go", async (t) => {
    const database = await createTestPgDatabase(t);
    const backend = await startBackend(t, echoHandler);
    const a = await startGatewayServer(t, database.dsn);
    // Registered before B and C start, so that the test does not depend on how fast a
    // registration reaches the other servers (shared state, tested on its own).
    const apiKey = await a.register(DOMAIN);
    const v1Key = await a.register(V1_DOMAIN);
    const v2Key = await a.register(V2_DOMAIN);
    const b = await startGatewayServer(t, database.dsn);
    const c = await startGatewayServer(t, database.dsn);
    const client = startClientProcess(t, {
      serverPort: Number(a.advertise.split(":")[1]),
      caFile: a.caFile,
      domain: DOMAIN,
      apiKey,
      backendUrl: backend.url,
    });

    // The client was given A only: it finds B and C and opens a tunnel to each.
    const everyServer = [a, b, c].map((s) => s.advertise).sort();
    let listed: ListedSession[] = [];
    await pollUntil(
      async () => {
        listed = (await adminSessions(b)).filter((s) => s.domain === DOMAIN);
        const servers = listed.map((s) => s.server?.advertise_address ?? "-").sort();
        return servers.join() === everyServer.join();
      },
      30_000,
      () => `B listed ${JSON.stringify(listed)}; client said ${client.output().slice(-2000)}`,
      200,
    );
    assert.equal(listed.length, 3);
    for (const server of [a, b, c]) await assertServedByOwnTunnel(server);

    // A v2 peer hears the list in TunnelAccept; a v1 (Go) peer gets nothing new, then or later.
    const peer = (domain: string, key: string, version: 1 | 2) => {
      const connected = new HostilePeer({
        port: b.httpsPort,
        ca: tlsFixture().cert,
        domain,
        apiKey: key,
        version,
      });
      t.after(() => connected.close());
      return connected;
    };
    const v1 = peer(V1_DOMAIN, v1Key, 1);
    const v2 = peer(V2_DOMAIN, v2Key, 2);
    assert.deepEqual((await v2.ready)?.servers, everyServer);
    await v1.ready;

    // SIGKILL of A: B and C serve from tunnels they already hold, with no reconnection.
    a.process.child.kill("SIGKILL");
    await a.process.exited;
    const killedAtMs = Date.now();
    const [viaB, viaC] = await Promise.all([msUntilServed(b, killedAtMs), msUntilServed(c, killedAtMs)]);
    t.diagnostic(`after SIGKILL of A: 200 through B after ${viaB}, through C after ${viaC}`);
    for (const server of [b, c]) await assertServedByOwnTunnel(server);

    // D joins later: the client connects to it without a restart, and D serves the domain.
    const d = await startGatewayServer(t, database.dsn);
    const joinedAtMs = Date.now();
    await pollUntil(
      async () => (await ownSession(d)) !== undefined,
      30_000,
      () => `D got no tunnel; client said ${client.output().slice(-2000)}`,
      200,
    );
    t.diagnostic(`D held a tunnel of the client ${Date.now() - joinedAtMs} ms after it started`);
    await assertServedByOwnTunnel(d);
    // B told its v2 peer of D (a ServerList frame), and its v1 peer nothing.
    const withD = [b, c, d].map((s) => s.advertise);
    await pollUntil(
      () =>
        v2.received.some(
          ({ payload }) =>
            payload.case === "serverList" && withD.every((x) => payload.value.servers.includes(x)),
        ),
      15_000,
      () => `the v2 peer got ${JSON.stringify(v2.received.map((e) => e.payload.case))}`,
      100,
    );
    assert.deepEqual(
      v1.received.filter((e) => e.payload.case !== "ping" && e.payload.case !== "streamOpen"),
      [],
      "a v1 peer sees no v2 frame",
    );

    // C stops cleanly: the client closes its tunnel to C and does not keep dialling it.
    const cOrigin = `https://${c.advertise}`;
    c.process.child.kill("SIGTERM");
    assert.equal(await c.process.exited, 0);
    await client.waitForLine(
      (line) =>
        line.msg === "gateway servers" &&
        Array.isArray(line.servers) &&
        !line.servers.includes(cOrigin) &&
        line.servers.includes(`https://${d.advertise}`),
      15_000,
    );
    const stoppedAtLine = client.lines.length;
    await new Promise((resolve) => setTimeout(resolve, 5_000));
    const aboutC = client.lines
      .slice(stoppedAtLine)
      .filter((line) => line.server === cOrigin && line.level !== "info");
    assert.deepEqual(aboutC, [], "no reconnect attempts to the stopped server");
    const retried = client.lines.filter(
      (line) =>
        line.server === cOrigin && typeof line.msg === "string" && /reconnect|rejected/.test(line.msg),
    );
    assert.deepEqual(retried, [], "the stopped server's tunnel was closed, not retried");
    for (const server of [b, d]) await assertServedByOwnTunnel(server);
    assert.equal(client.child.exitCode, null, "the client still runs");
  });

  it("--domain auto: every server serves the label the first one assigned, from its own tunnel", async (t) => {
    const database = await createTestPgDatabase(t);
    const backend = await startBackend(t, echoHandler);
    const a = await startGatewayServer(t, database.dsn);
    const key = await a.register("*.example.test");
    const b = await startGatewayServer(t, database.dsn);
    const client = startClientProcess(t, {
      serverPort: Number(a.advertise.split(":")[1]),
      caFile: a.caFile,
      domain: "auto",
      apiKey: key,
      backendUrl: backend.url,
    });
    let listed: ListedSession[] = [];
    await pollUntil(
      async () => {
        listed = await adminSessions(b);
        return listed.length === 2;
      },
      30_000,
      () => `B listed ${JSON.stringify(listed)}; client said ${client.output().slice(-2000)}`,
      200,
    );
    // The client asked B for the label A assigned, with the same instance id, and B (labels held
    // gateway-wide, docs/scale-out.md) gave it the same one.
    const holders = listed.map((s) => s.server?.advertise_address).sort();
    assert.deepEqual(holders, [a.advertise, b.advertise].sort(), "one tunnel on each server");
    const labels = new Set(listed.map((s) => s.domain));
    assert.equal(labels.size, 1, JSON.stringify(listed));
    const label = [...labels][0]!;
    assert.match(label, /^[a-z0-9]+\.example\.test$/);
    for (const server of [a, b]) {
      const answer = await sendRequest(`https://127.0.0.1:${server.httpsPort}/`, {
        ca: tlsFixture().cert,
        headers: { host: label },
      });
      assert.equal(answer.status, 200, `${label} through ${server.advertise}: ${answer.text}`);
    }
  });
});
