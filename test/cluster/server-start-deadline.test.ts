import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createServer, type AddressInfo, type Socket } from "node:net";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { WORKER_INDEX_VARIABLE } from "../../src/server/workers/worker-messages.js";
import { spawnHopgate, type HopgateProcess } from "../helpers/hopgate-process.js";
import { pollUntil } from "../helpers/poll-until.js";
import { cuttablePgDatabase, pgSkip } from "../helpers/postgres.js";
import { promtoolCheckMetrics, sampleValue } from "../helpers/prometheus-text.js";
import { MAIN_DOMAIN } from "../helpers/server-process.js";
import { tempDir } from "../helpers/temp-dir.js";
import { within } from "../helpers/within.js";

/** Far below the store's 10 s connection timeout, so that only the start deadline can end these starts. */
const DEADLINE_SECONDS = 3;

/** A TCP port that accepts connections and never answers: a database host behind a black hole. */
async function blackHole(t: TestContext): Promise<number> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => socket.destroy());
    socket.resume(); // read and drop
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return (server.address() as AddressInfo).port;
}

/** Pids of `pid`'s child processes (Linux /proc): a primary's workers, before any has logged. */
function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").split(" ").filter(Boolean).map(Number);
  } catch {
    return [];
  }
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
 * `hopgate server` on free ports (no metrics listener) with the embedded store in `dir` and extra
 * `args`; every worker it forked is killed at the end.
 */
function startServerProcess(t: TestContext, dir: string, args: string[]): HopgateProcess {
  const server = spawnHopgate(t, [
    "server",
    ...["--domain", MAIN_DOMAIN, "--https-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0"],
    ...["--data-dir", join(dir, "data"), "--metrics-listen", "off"],
    ...["--shutdown-timeout-seconds", "2", "--debug"],
    ...args,
  ]);
  // Workers by pid and start time, so that a pid reused by another process is never killed.
  const workers = new Map<number, string | undefined>();
  const watch = setInterval(() => {
    for (const pid of childPids(server.child.pid!))
      if (!workers.has(pid) && workerSlot(pid) !== undefined) workers.set(pid, startTime(pid));
  }, 20);
  t.after(() => {
    clearInterval(watch);
    for (const [pid, started] of workers)
      if (started !== undefined && startTime(pid) === started) process.kill(pid, "SIGKILL");
  });
  return server;
}

/** The slot number in a process's environment: set for a worker of `--workers`, else undefined. */
function workerSlot(pid: number): number | undefined {
  try {
    const entry = readFileSync(`/proc/${pid}/environ`, "utf8")
      .split("\0")
      .find((e) => e.startsWith(`${WORKER_INDEX_VARIABLE}=`));
    return entry === undefined ? undefined : Number(entry.slice(WORKER_INDEX_VARIABLE.length + 1));
  } catch {
    return undefined;
  }
}

/** A process's start time in clock ticks since boot (/proc/<pid>/stat field 22), undefined once gone. */
function startTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
}

/**
 * Worker 1 of `server` once forked (a child whose environment carries its slot number: the
 * process starts other short-lived children before it), other than `previous` (a worker 1 that
 * died), stopped (SIGSTOP) at once: it hangs before listening.
 */
async function stopFirstWorker(server: HopgateProcess, previous?: number): Promise<number> {
  const isWorkerOne = (pid: number) => pid !== previous && workerSlot(pid) === 1;
  let worker: number | undefined;
  await pollUntil(
    () => (worker = childPids(server.child.pid!).find(isWorkerOne)) !== undefined,
    30_000,
    () => `the primary never forked worker 1: ${server.output().slice(-2000)}`,
    5,
  );
  process.kill(worker!, "SIGSTOP");
  return worker!;
}

/**
 * Kills (SIGKILL) worker 1 of `server`, which every worker listens on, once the primary logged
 * its death, and stops (SIGSTOP) the worker 1 it restarts as soon as it is forked: a restarted
 * worker that hangs before listening. Resolves with both pids.
 */
async function hangRestartedWorker(server: HopgateProcess): Promise<{ victim: number; hung: number }> {
  await server.waitForLine((l) => l.msg === "HopGate workers listening", 60_000);
  const victim = Number(server.lines.find((l) => l.msg === "worker listening" && l.slot === 1)?.pid);
  process.kill(victim, "SIGKILL");
  await server.waitForLine((l) => l.msg === "worker died; restarting" && l.pid === victim);
  return { victim, hung: await stopFirstWorker(server, victim) };
}

const RESTART_KILLED = "restarted worker not listening by the start deadline; killed it, restarting";

/** The primary's own series (src/server/workers/supervision-metrics.ts). */
const SUPERVISION_SERIES = [
  'hopgate_worker_exits_total{reason="crashed"}',
  'hopgate_worker_exits_total{reason="start_failed"}',
  'hopgate_worker_exits_total{reason="start_timeout"}',
  "hopgate_worker_restarts_total",
  "hopgate_workers_listening",
  "hopgate_workers_configured",
] as const;

/** The supervision series in one scrape of the primary's /metrics, by name; throws unless 200. */
async function supervisionSeries(metricsPort: number): Promise<Record<string, number | undefined>> {
  const response = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
  const scrape = await response.text();
  if (response.status !== 200) throw new Error(`/metrics answered ${response.status}: ${scrape}`);
  return Object.fromEntries(SUPERVISION_SERIES.map((series) => [series, sampleValue(scrape, series)]));
}

/** Polls the primary's /metrics until its supervision series are `expected` (in SUPERVISION_SERIES order). */
async function untilSupervision(metricsPort: number, expected: number[], timeoutMs: number): Promise<void> {
  const want = Object.fromEntries(SUPERVISION_SERIES.map((series, i) => [series, expected[i]]));
  let last: unknown;
  await pollUntil(
    async () => {
      last = await supervisionSeries(metricsPort).catch((error: unknown) => String(error));
      return JSON.stringify(last) === JSON.stringify(want);
    },
    timeoutMs,
    () => `the primary's metrics never were ${JSON.stringify(want)}; last: ${JSON.stringify(last)}`,
    100,
  );
}

function hopgateLines(server: HopgateProcess): string[] {
  return server
    .output()
    .split("\n")
    .filter((line) => line.startsWith("hopgate: "));
}

describe("the start deadline of hopgate server (HOP_SERVER_START_TIMEOUT_SECONDS)", () => {
  it("ends a single server whose store never answers with a clear error, not a wait", async (t) => {
    const port = await blackHole(t);
    const server = startServerProcess(t, await tempDir(t), [
      ...["--db-dsn", `postgres://hopgate@127.0.0.1:${port}/hopgate`],
      ...["--start-timeout-seconds", String(DEADLINE_SECONDS)],
    ]);
    assert.equal(await within(server.exited, "the server to exit", 30_000), 1, server.output().slice(-2000));
    assert.deepEqual(hopgateLines(server), [
      `hopgate: not ready within ${DEADLINE_SECONDS} s (HOP_SERVER_START_TIMEOUT_SECONDS): the server is not listening (no start step done)`,
    ]);
  });

  it("ends a primary whose store never answers before it starts any worker", async (t) => {
    const port = await blackHole(t);
    const server = startServerProcess(t, await tempDir(t), [
      ...["--workers", "2", "--db-dsn", `postgres://hopgate@127.0.0.1:${port}/hopgate`],
      ...["--start-timeout-seconds", String(DEADLINE_SECONDS)],
    ]);
    assert.equal(await within(server.exited, "the primary to exit", 30_000), 1, server.output().slice(-2000));
    assert.deepEqual(hopgateLines(server), [
      `hopgate: not ready within ${DEADLINE_SECONDS} s (HOP_SERVER_START_TIMEOUT_SECONDS): the store did not open (migrations), no worker was started`,
    ]);
    assert.ok(!server.lines.some((l) => l.msg === "starting workers"), "no worker was forked");
  });

  it("kills a worker that hangs before it listens, names it, and exits 1", async (t) => {
    const server = startServerProcess(t, await tempDir(t), [
      ...["--workers", "2", "--start-timeout-seconds", String(DEADLINE_SECONDS)],
    ]);
    const hung = await stopFirstWorker(server);
    const exited = await within(server.exited, "the primary to exit", 30_000).catch((error: unknown) => {
      const early = server.lines.some((l) => l.msg === "worker listening" && l.pid === hung);
      throw early ? new Error("worker 1 was listening before the test stopped it: rerun") : error;
    });
    assert.equal(exited, 1, server.output().slice(-2000));
    const [line, ...more] = hopgateLines(server);
    assert.deepEqual(more, []);
    assert.match(
      line ?? "",
      new RegExp(
        `^hopgate: not ready within ${DEADLINE_SECONDS} s \\(HOP_SERVER_START_TIMEOUT_SECONDS\\): worker 1 \\(pid ${hung}\\) is not listening [0-9.]+ s after it was started \\(no start step done\\); worker 2 was not started \\(it starts once worker 1 listens\\)$`,
      ),
    );
    const killed = server.lines.find(
      (l) => l.msg === "workers not listening by the start deadline; killing them",
    );
    assert.deepEqual(killed?.not_ready, [{ slot: 1, pid: hung }]);
    assert.equal(isRunning(hung), false, "the hung worker is gone");
  });

  it("names the last start step a worker reported before it hung", async (t) => {
    // Wide enough for worker 1 to open the store on a busy machine first.
    const server = startServerProcess(t, await tempDir(t), [
      ...["--workers", "2", "--start-timeout-seconds", "15"],
    ]);
    const line = await server.waitForLine((l) => l.worker === 1 && l.msg === "store ready", 15_000);
    const hung = childPids(server.child.pid!).find((pid) => workerSlot(pid) === 1)!;
    process.kill(hung, "SIGSTOP");
    assert.ok(line);
    const exited = await within(server.exited, "the primary to exit", 30_000).catch((error: unknown) => {
      const early = server.lines.some((l) => l.msg === "worker listening" && l.pid === hung);
      throw early ? new Error("worker 1 was listening before the test stopped it: rerun") : error;
    });
    assert.equal(exited, 1, server.output().slice(-2000));
    const [reported] = hopgateLines(server);
    t.diagnostic(reported ?? "");
    // "store" at least (reported right after the line above), maybe a few more.
    assert.match(
      reported ?? "",
      new RegExp(
        `^hopgate: not ready within 15 s \\(HOP_SERVER_START_TIMEOUT_SECONDS\\): worker 1 \\(pid ${hung}\\) is not listening [0-9.]+ s after it was started \\(last start step done: [a-z ]+\\); worker 2 was not started`,
      ),
    );
    const killed = server.lines.find(
      (l) => l.msg === "workers not listening by the start deadline; killing them",
    );
    const [entry] = (killed?.not_ready ?? []) as Array<{ last_step?: string }>;
    assert.ok(entry?.last_step, `the log names the last step: ${JSON.stringify(killed)}`);
  });

  it("still starts a worker that is slow but listens within the deadline", async (t) => {
    const server = startServerProcess(t, await tempDir(t), [
      ...["--workers", "2", "--start-timeout-seconds", "60"],
    ]);
    const slow = await stopFirstWorker(server);
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    process.kill(slow, "SIGCONT");
    await server.waitForLine((l) => l.msg === "HopGate workers listening", 50_000);
    server.child.kill("SIGTERM");
    assert.equal(await within(server.exited, "the primary to exit after SIGTERM"), 0);
  });

  describe("a worker restarted after it died", () => {
    it("is killed and restarted again when it is not listening by its own deadline", async (t) => {
      // Wide enough for the first start of both workers and the last restart on a busy machine.
      const deadlineSeconds = 15;
      const server = startServerProcess(t, await tempDir(t), [
        ...["--workers", "2", "--start-timeout-seconds", String(deadlineSeconds)],
      ]);
      const { victim, hung } = await hangRestartedWorker(server);
      const killed = await server
        .waitForLine((l) => l.msg === RESTART_KILLED, (deadlineSeconds + 30) * 1000)
        .catch((error: unknown) => {
          const early = server.lines.some(
            (l) => l.msg === "worker restarted and listening" && l.pid === hung,
          );
          throw early ? new Error("worker 1 was listening before the test stopped it: rerun") : error;
        });
      assert.equal(killed.worker, 1);
      assert.equal(killed.pid, hung);
      assert.equal(killed.signal, "SIGKILL");
      assert.ok(Number(killed.ran_ms) >= deadlineSeconds * 1000, `ran ${String(killed.ran_ms)} ms`);
      assert.equal(killed.last_step, undefined, "stopped before its first start step");
      assert.match(
        String(killed.error),
        new RegExp(
          `^not ready within ${deadlineSeconds} s \\(HOP_SERVER_START_TIMEOUT_SECONDS\\): worker 1 \\(pid ${hung}\\) is not listening [0-9.]+ s after it was started \\(no start step done\\)$`,
        ),
      );
      // Its slot's second death in a row that came before a stable run: the backoff doubled.
      assert.equal(killed.restart_in_ms, 1000);
      assert.equal(isRunning(hung), false, "the hung worker is gone");
      assert.equal(server.child.exitCode, null, "the primary keeps running");

      const back = await server.waitForLine(
        (l) => l.msg === "worker restarted and listening" && l.slot === 1,
        (deadlineSeconds + 30) * 1000,
      );
      assert.ok(![victim, hung].includes(Number(back.pid)), `a new worker 1: ${JSON.stringify(back)}`);
      server.child.kill("SIGTERM");
      assert.equal(
        await within(server.exited, "the primary to exit after SIGTERM"),
        0,
        server.output().slice(-2000),
      );
      assert.equal(isRunning(Number(back.pid)), false, "no worker outlives the primary");
    });

    it("is counted in the primary's metrics: exits by reason, restarts, workers listening", async (t) => {
      const deadlineSeconds = 15;
      const server = startServerProcess(t, await tempDir(t), [
        ...["--workers", "2", "--start-timeout-seconds", String(deadlineSeconds)],
        ...["--metrics-listen", "127.0.0.1:0"],
      ]);
      const { victim, hung } = await hangRestartedWorker(server);
      const listening = server.lines.find((l) => l.msg === "HopGate workers listening");
      const metricsPort = Number(listening?.metrics_port);
      assert.ok(metricsPort > 0, `a metrics listener: ${JSON.stringify(listening)}`);
      // Worker 1 crashed and was forked again; the restarted one hangs before listening, and the
      // scrape answers without it (it would not answer the metrics request either).
      await untilSupervision(metricsPort, [1, 0, 0, 1, 1, 2], 30_000);

      await server.waitForLine(
        (l) => l.msg === RESTART_KILLED && l.pid === hung,
        (deadlineSeconds + 30) * 1000,
      );
      const back = await server.waitForLine(
        (l) => l.msg === "worker restarted and listening" && l.slot === 1,
        (deadlineSeconds + 30) * 1000,
      );
      assert.ok(![victim, hung].includes(Number(back.pid)), `a new worker 1: ${JSON.stringify(back)}`);
      await untilSupervision(metricsPort, [1, 0, 1, 2, 2, 2], 30_000);
      // The workers' sum and the primary's own series make one valid exposition.
      const scrape = await fetch(`http://127.0.0.1:${metricsPort}/metrics`).then((r) => r.text());
      const check = await promtoolCheckMetrics(scrape);
      assert.equal(check.code, 0, check.output);
      assert.ok(scrape.includes("hopgate_tunnels_active"), "the workers' series are there too");

      // The new worker 1 crashes too, and its restart is killed before it listens.
      process.kill(Number(back.pid), "SIGKILL");
      await server.waitForLine((l) => l.msg === "worker died; restarting" && l.pid === back.pid, 30_000);
      const doomed = await stopFirstWorker(server, Number(back.pid));
      process.kill(doomed, "SIGKILL");
      await server.waitForLine((l) => l.msg === "worker died; restarting" && l.pid === doomed, 30_000);
      await server.waitForLine(
        (l) => l.msg === "worker restarted and listening" && l.slot === 1 && l.pid !== back.pid,
        60_000,
      );
      await untilSupervision(metricsPort, [2, 1, 1, 4, 2, 2], 30_000);

      server.child.kill("SIGTERM");
      assert.equal(
        await within(server.exited, "the primary to exit after SIGTERM"),
        0,
        server.output().slice(-2000),
      );
    });

    it("is stopped with the others when a shutdown comes while it is starting", async (t) => {
      // Far beyond this test: only the shutdown may end the hung worker.
      const server = startServerProcess(t, await tempDir(t), [
        ...["--workers", "2", "--start-timeout-seconds", "120"],
      ]);
      const { hung } = await hangRestartedWorker(server);
      server.child.kill("SIGTERM");
      // The stop message cannot reach a stopped worker: it is killed after the drain (2 s) and
      // the exit grace (5 s), and the primary exits 1 for it, leaving no timer behind.
      assert.equal(await within(server.exited, "the primary to exit after SIGTERM", 60_000), 1);
      assert.ok(
        server.lines.some((l) => l.msg === "worker did not stop in time; killing it" && l.slot === 1),
        server.output().slice(-2000),
      );
      assert.ok(
        !server.lines.some((l) => l.msg === RESTART_KILLED || l.msg === "worker restarted and listening"),
      );
      assert.equal(isRunning(hung), false, "the hung worker is gone");
    });
  });

  describe("on PostgreSQL", { skip: pgSkip() }, () => {
    it("kills a worker whose store went silent after the primary's migrations", async (t) => {
      const database = await cuttablePgDatabase(t);
      const server = startServerProcess(t, await tempDir(t), [
        ...["--workers", "2", "--db-dsn", database.cuttableDsn],
        ...["--start-timeout-seconds", String(DEADLINE_SECONDS + 2)],
      ]);
      // The primary migrated and closed its connections; the workers' connections go nowhere.
      await server.waitForLine((l) => l.msg === "starting workers", 30_000);
      database.stall();
      assert.equal(
        await within(server.exited, "the primary to exit", 30_000),
        1,
        server.output().slice(-2000),
      );
      const [line] = hopgateLines(server);
      assert.match(
        line ?? "",
        /^hopgate: not ready within 5 s \(HOP_SERVER_START_TIMEOUT_SECONDS\): worker 1 \(pid \d+\) is not listening/,
      );
      const killed = server.lines.find(
        (l) => l.msg === "workers not listening by the start deadline; killing them",
      );
      const pids = (killed?.not_ready as Array<{ pid: number }> | undefined)?.map((w) => w.pid) ?? [];
      assert.equal(pids.length, 1, JSON.stringify(killed));
      assert.deepEqual(pids.filter(isRunning), [], "no worker outlives the primary");
    });
  });
});
