import assert from "node:assert/strict";
import { createServer, type AddressInfo } from "node:net";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { startBackend, echoHandler } from "../helpers/backend.js";
import { pollUntil } from "../helpers/poll-until.js";
import { createTestPgDatabase, pgSkip } from "../helpers/postgres.js";
import { sampleLines } from "../helpers/prometheus-text.js";
import { cleanEnv, runCli } from "../helpers/run-cli.js";
import { spawnHopgate } from "../helpers/hopgate-process.js";
import { MAIN_DOMAIN, startClientProcess } from "../helpers/server-process.js";
import { tempDir } from "../helpers/temp-dir.js";
import { visit } from "../helpers/visit.js";
import { within } from "../helpers/within.js";
import { startWorkersProcess, type WorkersProcess } from "../helpers/workers-process.js";

interface ListedSession {
  domain: string;
  server?: { id: string };
}

/** The holders of each domain's session as any worker answers: domain → server id. */
async function holders(server: WorkersProcess): Promise<Map<string, string>> {
  const answer = await server.admin("/sessions");
  assert.equal(answer.status, 200, answer.text);
  const sessions = answer.json<{ sessions: ListedSession[] }>().sessions;
  return new Map(sessions.map((s) => [s.domain, s.server?.id ?? "-"]));
}

/** Statuses of `count` visits to each domain, every one on a new TCP connection. */
async function visitStatuses(server: WorkersProcess, domains: string[], count: number): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < count; i++)
    for (const domain of domains) {
      const answer = await visit(server.httpsPort, domain, `/visit/${i}`, { timeoutMs: 10_000 });
      statuses.push(answer.status);
    }
  return statuses;
}

/** Sum of hopgate_http_requests_total over every series of `domain` in a scrape. */
function requestsCounted(scrape: string, domain: string): number {
  return sampleLines(scrape)
    .filter((line) => line.startsWith("hopgate_http_requests_total{") && line.includes(`domain="${domain}"`))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(" ") + 1)), 0);
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once("error", () => resolve(false));
    probe.listen(port, "127.0.0.1", () => probe.close(() => resolve(true)));
  });
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Two workers on one store: own registry ids, one shared port, sessions of both listed by
 * either, every visitor connection answered whichever worker it lands on, summed metrics, a
 * SIGKILLed worker restarted, and SIGTERM stopping everything with exit 0 and the port freed.
 */
async function twoWorkersScenario(t: TestContext, env: Record<string, string>): Promise<void> {
  const backend = await startBackend(t, echoHandler);
  const server = await startWorkersProcess(t, await tempDir(t), 2, env);
  const ids = server.serverIds();
  assert.equal(new Set(ids).size, 2, `two workers with their own registry id: ${ids.join(", ")}`);

  // Clients one at a time until two workers hold sessions (round-robin gives the second
  // client's connection to the other worker unless another connection came in between).
  const domains: string[] = [];
  let listed = new Map<string, string>();
  // Admin requests are connections too, so which worker a client lands on is not fixed: up to
  // ten clients make two workers holding sessions all but certain.
  for (let n = 1; n <= 10 && new Set(listed.values()).size < 2; n++) {
    const domain = `app-${n}.example.test`;
    const key = await server.register(domain);
    domains.push(domain);
    startClientProcess(t, {
      serverPort: server.httpsPort,
      caFile: server.caFile,
      domain,
      apiKey: key,
      backendUrl: backend.url,
    });
    await pollUntil(
      async () => (listed = await holders(server)).has(domain),
      30_000,
      () => `admin /sessions never listed ${domain}: ${JSON.stringify([...listed])}`,
      200,
    );
  }
  assert.equal(new Set(listed.values()).size, 2, `sessions on both workers: ${JSON.stringify([...listed])}`);
  for (const holder of listed.values()) assert.ok(ids.includes(holder), `${holder} is a worker's id`);
  // Each worker lists the other's sessions too (every admin request is a new connection).
  for (let i = 0; i < 4; i++) assert.deepEqual(await holders(server), listed);

  // A domain registered through one worker is served by the others once they know it (the
  // shared-state signal, or the 30 s refresh) and once their peer link carries the holder's
  // announcement (routes come over the link, not from the registry that lists the sessions):
  // until then a visit may answer 404 or 502 (docs/scale-out.md).
  await pollUntil(
    async () => (await visitStatuses(server, domains, 2)).every((status) => status === 200),
    45_000,
    () => "the workers never all served the registered domains",
    500,
  );
  // Every visitor connection is answered, whichever worker it lands on (the relay).
  const statuses = await visitStatuses(server, domains, 10);
  assert.deepEqual(
    statuses.filter((s) => s !== 200),
    [],
    "every visit answered 200",
  );
  // The primary's /metrics is the sum of both workers'.
  const scrape = await fetch(`http://127.0.0.1:${server.metricsPort}/metrics`).then((r) => r.text());
  const counted = domains.map((d) => requestsCounted(scrape, d)).reduce((a, b) => a + b, 0);
  assert.ok(counted >= statuses.length, `requests counted ${counted} of at least ${statuses.length}`);
  assert.ok(scrape.includes("hopgate_tunnels_active"), "the summed scrape holds the workers' gauges");

  // kill -9 of one worker: the primary restarts it, and requests answer 200 again.
  const [victim] = server.workerPids();
  process.kill(victim!, "SIGKILL");
  await server.process.waitForLine((l) => l.msg === "worker died; restarting" && l.pid === victim);
  await server.process.waitForLine((l) => l.msg === "worker restarted and listening", 30_000);
  await pollUntil(
    async () => (await visitStatuses(server, domains, 3).catch(() => [0])).every((s) => s === 200),
    30_000,
    () => "requests did not answer 200 again after a worker was restarted",
    200,
  );

  // SIGTERM: every worker drains and exits, the primary exits 0, the port is free again.
  const pids = server.workerPids().filter(isRunning);
  assert.equal(pids.length, 2, "two live workers after the restart");
  server.process.child.kill("SIGTERM");
  assert.equal(await within(server.process.exited, "the primary to exit after SIGTERM"), 0);
  assert.deepEqual(pids.filter(isRunning), [], "no worker outlives the primary");
  assert.ok(await portIsFree(server.httpsPort), "the shared port is free");
}

describe("hopgate server --workers (docs/scale-out.md)", () => {
  it("refuses a bad --workers or HOP_SERVER_WORKERS with one clear line", async () => {
    for (const value of ["0", "257", "two", "-1", "1.5", "auto2"]) {
      const result = await runCli(["server", "--workers", value]);
      assert.equal(result.code, 2, `--workers ${value}: ${result.stderr}`);
      assert.match(result.stderr, new RegExp(`--workers="${value.replace(".", "\\.")}" is invalid`));
      assert.match(result.stderr, /expected a whole number from 1 to 256, or auto/);
      assert.equal(result.stdout, "", "nothing started");
    }
    const fromEnv = await runCli(["server"], { env: cleanEnv({ HOP_SERVER_WORKERS: "many" }) });
    assert.equal(fromEnv.code, 2);
    assert.match(fromEnv.stderr, /HOP_SERVER_WORKERS="many" is invalid/);
    // Each worker binds a peer port of its own: a fixed one, or one advertised address, cannot be.
    const fixedPeerPort = await runCli(["server", "--workers", "2", "--peer-listen", "127.0.0.1:7946"]);
    assert.equal(fixedPeerPort.code, 2, fixedPeerPort.stderr);
    assert.match(fixedPeerPort.stderr, /HOP_SERVER_PEER_LISTEN: with --workers .* give port 0/);
    const oneAddress = await runCli(["server", "--workers", "2", "--peer-advertise-addr", "a.test:7946"]);
    assert.equal(oneAddress.code, 2, oneAddress.stderr);
    assert.match(oneAddress.stderr, /HOP_SERVER_PEER_ADVERTISE_ADDR names one address/);
    assert.equal(fixedPeerPort.stdout + oneAddress.stdout, "", "nothing started");
  });

  it("exits at once with the worker's error when a worker fails at its first start", async (t) => {
    const dir = await tempDir(t);
    const missing = join(dir, "missing-cert.pem");
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
    t.after(() => new Promise<void>((resolve) => taken.close(() => resolve())));
    const takenPort = (taken.address() as AddressInfo).port;
    const cases = [
      {
        // The primary reads no certificate: only the workers find the file missing.
        what: "a certificate file only the worker reads",
        args: [
          "--https-listen",
          "127.0.0.1:0",
          "--tls",
          "files",
          "--tls-cert",
          missing,
          "--tls-key",
          missing,
        ],
        code: 2,
        stderr: `hopgate: worker 1 failed to start: cannot read HOP_SERVER_TLS_CERT file ${missing}: no such file`,
      },
      {
        what: "a port the worker cannot bind",
        args: ["--https-listen", `127.0.0.1:${takenPort}`],
        code: 1,
        stderr: `hopgate: worker 1 failed to start: bind EADDRINUSE 127.0.0.1:${takenPort}`,
      },
    ];
    for (const [i, c] of cases.entries()) {
      const server = spawnHopgate(t, [
        "server",
        ...["--workers", "2", "--domain", MAIN_DOMAIN, "--data-dir", join(dir, `data-${i}`), "--debug"],
        ...["--http-listen", "127.0.0.1:0", ...c.args],
      ]);
      const code = await within(server.exited, `the primary to exit after ${c.what}`, 20_000);
      assert.equal(code, c.code, `${c.what}: ${server.output().slice(-2000)}`);
      const stderr = server
        .output()
        .split("\n")
        .filter((line) => line.startsWith("hopgate: "));
      assert.deepEqual(stderr, [c.stderr], c.what);
      const workers = server.lines.filter((l) => l.component === "primary" && typeof l.pid === "number");
      assert.ok(workers.length > 0, `${c.what}: the primary logged its worker's exit`);
      assert.deepEqual(
        workers.map((l) => Number(l.pid)).filter(isRunning),
        [],
        `${c.what}: no worker outlives the primary`,
      );
      assert.ok(
        !server.lines.some((l) => l.msg === "worker died; restarting"),
        `${c.what}: a worker that never listened is not restarted`,
      );
    }
  });

  it("two workers on the embedded SQLite store act as two servers of one gateway", async (t) => {
    await twoWorkersScenario(t, {});
  });

  describe("on PostgreSQL", { skip: pgSkip() }, () => {
    it("two workers on one PostgreSQL database act as two servers of one gateway", async (t) => {
      const database = await createTestPgDatabase(t);
      await twoWorkersScenario(t, { HOP_DB_DSN: database.dsn });
    });
  });
});
