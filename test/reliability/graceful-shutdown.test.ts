import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { connect } from "node:net";
import { describe, it } from "node:test";
import { startBackend } from "../helpers/backend.js";
import { startClientProcess, startServerProcess } from "../helpers/server-process.js";
import { tempDir } from "../helpers/temp-dir.js";
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

async function waitFor(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
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
    await waitFor(() => arrived === 8, 15_000, "8 requests at the backend");

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
    await waitFor(() => arrived === paths.length, 15_000, "requests at the backend");

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
