// `npm run bench -- workers`: 1 KiB requests/s of `hopgate server --workers 2` against one
// process on the same machine, in one run, variants alternated per round, with the CPU seconds
// per request of each process role (primary, worker holding the tunnel, other worker, client),
// from /proc: the profile docs/scale-out.md extrapolates to a 16-core edge from.
import { mkdtempSync } from "node:fs";
import https from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { cpuSecondsOf } from "./machine-load.js";
import { median, wrk, type LoadResult } from "./measure.js";
import { removeOnStop, startProcess, type BenchProcess } from "./processes.js";
import { ADMIN_KEY, clientArgs, MAIN_DOMAIN, register, serverArgs, TENANT, writeCerts } from "./stack.js";

export const WORKER_VARIANTS = [
  "1 worker",
  "2 workers, a tunnel on each",
  "2 workers, one tunnel (relay)",
] as const;
export type WorkerVariant = (typeof WORKER_VARIANTS)[number];

/** One variant's run: wrk's figures and CPU seconds per 1,000 requests by role. */
export interface WorkersSample {
  readonly variant: WorkerVariant;
  readonly load: LoadResult;
  /** CPU ms per 1,000 requests, by role: primary, holder (worker(s) holding a tunnel), relayer, client. */
  readonly cpuMsPer1000: Record<string, number>;
}

const CONNECTIONS = 50;

/**
 * `rounds` rounds of every variant (the order rotated per round), each on a fresh server and
 * client(s) over one shared backend, `durationS` seconds of wrk per run.
 */
export async function measureWorkers(
  cli: string,
  nodeFlags: readonly string[],
  rounds: number,
  durationS: number,
  variants: readonly WorkerVariant[] = WORKER_VARIANTS,
): Promise<WorkersSample[]> {
  const dir = removeOnStop(mkdtempSync(join(tmpdir(), "hopgate-bench-workers-")));
  writeCerts(dir);
  const backend = startProcess("backend", process.execPath, [
    "--import",
    "tsx",
    join(import.meta.dirname, "backend.ts"),
  ]);
  const backendPort = Number((await backend.waitForLine((l) => typeof l.port === "number")).port);
  const samples: WorkersSample[] = [];
  for (let round = 0; round < rounds; round++) {
    const order = [...variants.slice(round % variants.length), ...variants.slice(0, round % variants.length)];
    process.stderr.write(`workers round ${round + 1}/${rounds}: ${order.join("; ")}\n`);
    for (const variant of order)
      samples.push(await runVariant(cli, nodeFlags, dir, backendPort, variant, durationS));
  }
  return samples;
}

async function runVariant(
  cli: string,
  nodeFlags: readonly string[],
  parent: string,
  backendPort: number,
  variant: WorkerVariant,
  durationS: number,
): Promise<WorkersSample> {
  const dir = mkdtempSync(join(parent, "run-"));
  writeCerts(dir);
  const workers = variant === "1 worker" ? 1 : 2;
  const server = startProcess(
    "server",
    process.execPath,
    [...serverArgs(cli, nodeFlags, dir, "127.0.0.1:0"), "--workers", String(workers)],
    { HOP_ADMIN_API_KEY: ADMIN_KEY, HOP_TUNNEL_MAX_STREAMS: "20000" },
  );
  const clients: BenchProcess[] = [];
  try {
    const listening = await server.waitForLine((l) =>
      workers === 1 ? l.msg === "HopGate server listening" : l.msg === "HopGate workers listening",
    );
    const httpsPort = Number(listening.https_port);
    // Worker pids by registry id, from the primary's log.
    const workerPids = new Map<string, number>();
    if (workers > 1)
      for (let slot = 1; slot <= workers; slot++) {
        const line = await server.waitForLine((l) => l.msg === "worker listening" && l.slot === slot);
        workerPids.set(String(line.server_id), Number(line.pid));
      }
    const key = await register(httpsPort);
    const wanted = variant === "2 workers, a tunnel on each" ? 2 : 1;
    // Clients until the wanted number of workers hold a tunnel (connections go round-robin).
    let holders = new Set<string>();
    for (let attempt = 0; attempt < 6 && holders.size < wanted; attempt++) {
      const client = startProcess(
        "client",
        process.execPath,
        clientArgs(cli, nodeFlags, dir, { httpsPort, domain: TENANT, apiKey: key, backendPort }),
      );
      await client.waitForLine((l) => l.msg === "tunnel accepted");
      const before = holders.size;
      holders = await sessionHolders(httpsPort);
      if (holders.size > before || workers === 1) clients.push(client);
      else {
        await client.stop();
        // Client, admin request, client...: with two workers the next client would land where
        // this one did. One more connection shifts the round-robin.
        await adminGet(httpsPort, "/api/v1/admin/sessions");
      }
    }
    if (holders.size < wanted)
      throw new Error(`bench: ${variant}: tunnels on ${holders.size} worker(s) only`);
    // Every worker must know the domain before the load (the domain list is refreshed every 30 s).
    await untilEveryWorkerServes(httpsPort);
    const roles = new Map<string, number[]>([
      ["primary", [server.child.pid!]],
      ["client", clients.map((c) => c.child.pid!)],
    ]);
    if (workers > 1) {
      roles.set(
        "holder",
        [...workerPids].filter(([id]) => holders.has(id)).map(([, pid]) => pid),
      );
      roles.set(
        "relayer",
        [...workerPids].filter(([id]) => !holders.has(id)).map(([, pid]) => pid),
      );
    }
    const cpuBefore = new Map([...roles].map(([role, pids]) => [role, sumCpu(pids)]));
    const load = await wrk(
      { url: `https://127.0.0.1:${httpsPort}`, host: TENANT },
      "/1k",
      CONNECTIONS,
      durationS,
    );
    const requests = load.rps * durationS;
    const cpuMsPer1000 = Object.fromEntries(
      [...roles].map(([role, pids]) => [role, ((sumCpu(pids) - cpuBefore.get(role)!) * 1e6) / requests]),
    );
    return { variant, load, cpuMsPer1000 };
  } finally {
    for (const client of clients) await client.stop();
    await server.stop();
  }
}

function sumCpu(pids: readonly number[]): number {
  return pids.reduce((sum, pid) => sum + cpuSecondsOf(pid), 0);
}

/** Registry ids of the workers holding a session, from the admin API (polled until it lists one). */
async function sessionHolders(port: number): Promise<Set<string>> {
  for (let i = 0; i < 50; i++) {
    const text = await adminGet(port, "/api/v1/admin/sessions");
    const sessions = (JSON.parse(text) as { sessions: Array<{ server?: { id: string } }> }).sessions;
    if (sessions.length > 0) return new Set(sessions.map((s) => s.server?.id ?? "single"));
    await sleep(200);
  }
  throw new Error("bench: no session listed");
}

/** Waits until 20 requests in a row on new connections are answered 200 (every worker serves). */
async function untilEveryWorkerServes(port: number): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (let ok = 0; ok < 20;) {
    if (Date.now() > deadline) throw new Error("bench: the workers did not all serve the domain within 60 s");
    const status = await get(port, TENANT, "/1k").catch(() => 0);
    ok = status === 200 ? ok + 1 : 0;
    if (status !== 200) await sleep(500);
  }
}

function adminGet(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = https.get(
      {
        host: "127.0.0.1",
        port,
        path,
        servername: MAIN_DOMAIN,
        rejectUnauthorized: false,
        agent: false,
        headers: { host: MAIN_DOMAIN, authorization: `Bearer ${ADMIN_KEY}` },
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8").on("data", (c: string) => (text += c));
        res.on("end", () => resolve(text));
      },
    );
    req.on("error", reject);
  });
}

function get(port: number, host: string, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = https.get(
      {
        host: "127.0.0.1",
        port,
        path,
        servername: host,
        rejectUnauthorized: false,
        agent: false,
        headers: { host },
      },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      },
    );
    req.on("error", reject);
  });
}

/** Medians per variant, and each variant's requests/s as a ratio of one worker's. */
export function printWorkers(samples: readonly WorkersSample[]): void {
  const byVariant = new Map<WorkerVariant, WorkersSample[]>();
  for (const s of samples) byVariant.set(s.variant, [...(byVariant.get(s.variant) ?? []), s]);
  const baseline = median((byVariant.get("1 worker") ?? []).map((s) => s.load.rps));
  const rows = [
    ["variant", "1k req/s", "× 1 worker", "p50 ms", "p99 ms", "errors", "CPU ms per 1,000 requests"],
  ];
  for (const [variant, list] of byVariant) {
    const rps = median(list.map((s) => s.load.rps));
    const roles = Object.keys(list[0]?.cpuMsPer1000 ?? {});
    rows.push([
      variant,
      rps.toFixed(0),
      (rps / baseline).toFixed(2),
      median(list.map((s) => s.load.p50Ms ?? NaN)).toFixed(2),
      median(list.map((s) => s.load.p99Ms ?? NaN)).toFixed(2),
      String(list.reduce((sum, s) => sum + s.load.errors, 0)),
      roles.map((r) => `${r} ${median(list.map((s) => s.cpuMsPer1000[r] ?? NaN)).toFixed(0)}`).join(", "),
    ]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const row of rows) process.stdout.write(`${row.map((c, i) => c.padEnd(widths[i]!)).join("  ")}\n`);
  process.stdout.write(
    `(rounds: ${byVariant.get("1 worker")?.length ?? 0}; medians; ${CONNECTIONS} wrk connections)\n`,
  );
}
