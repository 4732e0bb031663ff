import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import https from "node:https";
import { connect } from "node:net";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { startBackend } from "../helpers/backend.js";
import { until } from "../helpers/poll-until.js";
import { startClientProcess, startServerProcess } from "../helpers/server-process.js";
import { startTcpFront } from "../helpers/tcp-front.js";
import { tempDir } from "../helpers/temp-dir.js";
import { tlsFixture } from "../helpers/tls-fixture.js";
import { visit, type Visit } from "../helpers/visit.js";

const DOMAIN = "drain.example.test";
const BODY = Buffer.from(Array.from({ length: 256 * 1024 }, (_, i) => (i * 7) % 251));
const sha = (data: Buffer) => createHash("sha256").update(data).digest("hex");

/** Whether a new TCP connection to 127.0.0.1:`port` is accepted. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/** Settles with the visit or the error that ended it, and when. */
async function settled(visiting: Promise<Visit>) {
  try {
    return { visit: await visiting, error: undefined, atMs: Date.now() };
  } catch (error) {
    return { visit: undefined, error: error as Error, atMs: Date.now() };
  }
}

/** A server process, a backend that calls `arrived` per request, and a client process between them. */
async function startDeployment(
  t: Parameters<typeof startBackend>[0],
  shutdownTimeoutSeconds: number,
  handler: Parameters<typeof startBackend>[1],
) {
  const dir = await tempDir(t);
  const server = await startServerProcess(t, dir, {
    HOP_SHUTDOWN_TIMEOUT_SECONDS: String(shutdownTimeoutSeconds),
  });
  const apiKey = await server.register(DOMAIN);
  const backend = await startBackend(t, handler);
  const client = startClientProcess(t, {
    serverPort: server.httpsPort,
    caFile: server.caFile,
    domain: DOMAIN,
    apiKey,
    backendUrl: backend.url,
  });
  await client.waitForLine((line) => line.msg === "tunnel accepted");
  return { server, client };
}

describe("graceful shutdown of the server process (SIGTERM)", () => {
  it("stops accepting, tells the client to drain, finishes slow in-flight requests in full, exits 0", async (t) => {
    let arrived = 0;
    const { server, client } = await startDeployment(t, 15, (_req, res) => {
      arrived++;
      setTimeout(() => {
        res.writeHead(200, { "content-type": "application/octet-stream" });
        res.end(BODY);
      }, 1500);
    });
    const inFlight = Array.from({ length: 8 }, (_, i) =>
      settled(visit(server.httpsPort, DOMAIN, `/slow/${i}`, { http2: i % 2 === 1, timeoutMs: 30_000 })),
    );
    await until(() => arrived === 8, "8 requests at the backend", 15_000);

    const sigtermAt = Date.now();
    server.process.child.kill("SIGTERM");
    await client.waitForLine((line) => line.msg === "server asked this tunnel to drain", 5000);
    const drainNoticeMs = Date.now() - sigtermAt;
    const acceptedAfterSigterm = await accepts(server.httpsPort);
    const outcomes = await Promise.all(inFlight);
    const exitCode = await server.process.exited;
    const exitMs = Date.now() - sigtermAt;
    t.diagnostic(
      `drain notice ${drainNoticeMs} ms after SIGTERM; requests done ` +
        `${Math.max(...outcomes.map((o) => o.atMs)) - sigtermAt} ms after; exit ${exitMs} ms after`,
    );

    assert.equal(acceptedAfterSigterm, false, "no new connection is accepted after SIGTERM");
    for (const outcome of outcomes) {
      assert.equal(outcome.error, undefined, `in-flight request failed: ${outcome.error?.message}`);
      assert.equal(outcome.visit?.status, 200);
      assert.equal(sha(outcome.visit?.body ?? Buffer.alloc(0)), sha(BODY), "the whole body arrived");
    }
    assert.equal(exitCode, 0, "the server exits 0");
    assert.ok(exitMs < 15_000, `exited once drained (${exitMs} ms), before the 15 s timeout`);
    assert.ok(
      client.lines.some((line) => line.msg === "tunnel down; reconnecting"),
      "the client goes on trying to reconnect",
    );
    assert.equal(client.child.exitCode, null, "the client keeps running");
  });

  it("at HOP_SHUTDOWN_TIMEOUT_SECONDS answers what still runs with 502 (cuts begun responses) and exits 0", async (t) => {
    let arrived = 0;
    const { server } = await startDeployment(t, 1, (req, res) => {
      arrived++;
      // A response that started streaming but never ends, and ones that never start.
      if (req.url === "/drip") {
        res.writeHead(200, { "content-type": "text/plain" });
        res.write("first chunk\n");
      }
    });
    const paths = ["/hang/0", "/hang/1", "/drip", "/hang/2"];
    const inFlight = paths.map((path, i) =>
      settled(visit(server.httpsPort, DOMAIN, path, { http2: i % 2 === 1, timeoutMs: 30_000 })),
    );
    await until(() => arrived === paths.length, "requests at the backend", 15_000);

    const sigtermAt = Date.now();
    server.process.child.kill("SIGTERM");
    const outcomes = await Promise.all(inFlight);
    const exitCode = await server.process.exited;
    const exitMs = Date.now() - sigtermAt;
    const seen = outcomes.map(
      (o, i) => `${paths[i]} ${o.visit?.status ?? o.error?.message} after ${o.atMs - sigtermAt} ms`,
    );
    t.diagnostic(`exit ${exitMs} ms after SIGTERM; ${seen.join("; ")}`);

    assert.equal(exitCode, 0, "the server exits 0 at the deadline");
    assert.ok(exitMs >= 900, `in-flight requests got their drain time (exit after ${exitMs} ms)`);
    assert.ok(exitMs < 1000 + 10_000, `the server exits at the deadline, not later (${exitMs} ms)`);
    for (const [i, outcome] of outcomes.entries()) {
      if (paths[i] === "/drip") assert.ok(outcome.error, "a response already under way is cut");
      else assert.equal(outcome.visit?.status, 502, `${paths[i]}: a 502 page (${outcome.error?.message})`);
      assert.ok(outcome.atMs - sigtermAt < 1000 + 10_000, `${paths[i]} ended by the deadline`);
    }
  });
});

interface Outcome {
  readonly startedAt: number;
  readonly endedAt: number;
  readonly status: number;
  readonly error: string | undefined;
  /** Sent again after the server closed the idle keep-alive connection it was sent on. */
  readonly retried: boolean;
}

/**
 * Steady visitor load over HTTP/1.1 keep-alive through `port`: `ratePerS` requests per second,
 * every fifth a ~1 s one. Like browsers (RFC 9112 §9.3.1) and as Node documents for
 * `request.reusedSocket`, a request whose reused idle connection was closed under it is sent
 * once more, on a new connection; such retries are counted.
 */
function steadyLoad(port: number, ratePerS: number) {
  const agent = new https.Agent({ keepAlive: true, maxSockets: 64, ca: tlsFixture().cert });
  const outcomes: Outcome[] = [];
  const pending = new Set<Promise<void>>();
  const send = (path: string, retried: boolean): Promise<Omit<Outcome, "startedAt" | "endedAt">> =>
    new Promise((resolve) => {
      const req = https.get(
        {
          host: "127.0.0.1",
          port,
          path,
          servername: DOMAIN,
          headers: { host: DOMAIN },
          ca: tlsFixture().cert,
          // The resend takes a new connection: the pool may hold more connections being closed.
          agent: retried ? false : agent,
          timeout: 30_000,
        },
        (res) => {
          let bytes = 0;
          res.on("data", (chunk: Buffer) => (bytes += chunk.length));
          res.on("end", () =>
            resolve({
              status: res.statusCode ?? 0,
              error:
                res.statusCode === 200 && bytes !== SLOW_BODY_BYTES && path.startsWith("/slow")
                  ? `short body ${bytes}`
                  : undefined,
              retried,
            }),
          );
          res.on("error", (error) => resolve({ status: 0, error: error.message, retried }));
        },
      );
      req.on("timeout", () => req.destroy(new Error("timed out")));
      req.on("error", (error: NodeJS.ErrnoException) => {
        if (req.reusedSocket && error.code === "ECONNRESET" && !retried) return resolve(send(path, true));
        resolve({ status: 0, error: `${error.message}${req.reusedSocket ? " (reused)" : ""}`, retried });
      });
    });
  let n = 0;
  const timer = setInterval(() => {
    const startedAt = Date.now();
    const path = n++ % 5 === 4 ? `/slow/${n}` : `/small/${n}`;
    const done = send(path, false).then((o) => void outcomes.push({ ...o, startedAt, endedAt: Date.now() }));
    pending.add(done);
    void done.finally(() => pending.delete(done));
  }, 1000 / ratePerS);
  return {
    outcomes,
    async stop() {
      clearInterval(timer);
      await Promise.all(pending);
      agent.destroy();
    },
  };
}

const SLOW_BODY_BYTES = 64 * 1024;

describe("deploy under steady load", () => {
  it("replacing the server behind a front under steady load loses no request; the client moves to the new server", async (t) => {
    const dir = await tempDir(t);
    // Visitors of the new server wait for the tunnel that moves over instead of getting 502.
    const env = { HOP_SHUTDOWN_TIMEOUT_SECONDS: "10", HOP_SERVER_TUNNEL_WAIT_SECONDS: "5" };
    const old = await startServerProcess(t, dir, env);
    const front = await startTcpFront(t, old.httpsPort);
    const apiKey = await old.register(DOMAIN);
    const backend = await startBackend(t, (req, res) => {
      if (!req.url?.startsWith("/slow")) return res.end("ok");
      setTimeout(() => res.end(Buffer.alloc(SLOW_BODY_BYTES, 1)), 1000);
    });
    const client = startClientProcess(t, {
      serverPort: front.port,
      caFile: old.caFile,
      domain: DOMAIN,
      apiKey,
      backendUrl: backend.url,
    });
    await client.waitForLine((line) => line.msg === "tunnel accepted");
    const load = steadyLoad(front.port, 40);
    t.after(() => load.stop());
    await sleep(3000);

    const replacement = await startServerProcess(t, dir, env);
    front.switchTo(replacement.httpsPort);
    const sigtermAt = Date.now();
    old.process.child.kill("SIGTERM");
    const accepted = () => client.lines.filter((line) => line.msg === "tunnel accepted").length;
    await until(() => accepted() === 2, "the client's tunnel to the new server", 15_000);
    const reconnectMs = Date.now() - sigtermAt;
    const exitCode = await old.process.exited;
    const exitMs = Date.now() - sigtermAt;
    await sleep(3000);
    await load.stop();

    const outcomes = load.outcomes;
    const failed = outcomes.filter((o) => o.status !== 200 || o.error);
    const inFlightAtSigterm = outcomes.filter((o) => o.startedAt <= sigtermAt && o.endedAt > sigtermAt);
    const afterReconnect = outcomes.filter((o) => o.startedAt > sigtermAt + reconnectMs);
    const retried = outcomes.filter((o) => o.retried).length;
    const duringMove = outcomes.filter(
      (o) => o.startedAt > sigtermAt && o.startedAt <= sigtermAt + reconnectMs,
    );
    const describe = (o: Outcome) => `${o.status || o.error} started ${o.startedAt - sigtermAt} ms`;
    t.diagnostic(
      `${outcomes.length} requests, ${inFlightAtSigterm.length} in flight at SIGTERM, ` +
        `${duringMove.length} sent while the tunnel moved; ` +
        `client on the new server ${reconnectMs} ms after SIGTERM, old server exited ${exitMs} ms after; ` +
        `${failed.length} failed [${failed.map(describe).join("; ")}], ${retried} resent on a closed idle connection`,
    );

    assert.equal(exitCode, 0, "the old server exits 0");
    assert.ok(inFlightAtSigterm.length > 0, "requests were in flight at SIGTERM");
    assert.deepEqual(
      failed.map(describe),
      [],
      "no request failed: in flight at SIGTERM, during the move or after",
    );
    assert.ok(afterReconnect.length > 40, "requests kept flowing through the new server");
  });
});
