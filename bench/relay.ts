// `npm run bench -- relay`: the peer relay's overhead (docs/scale-out.md). Two HopGate servers on
// one PostgreSQL database (HOPGATE_BENCH_PG_DSN, else HOPGATE_TEST_PG_DSN; a scratch database is
// created and dropped), one client connected to A. wrk (HTTP/1.1 keep-alive, 50 connections) asks
// for a 1 KiB body through A (direct to the holder) and through B (relayed to A), alternated per
// round in the same run; medians of the rounds are printed. No figure here is asserted anywhere.
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { median, wrk, type LoadResult } from "./measure.js";
import { removeOnStop, startProcess, type BenchProcess } from "./processes.js";
import { ADMIN_KEY, clientArgs, register, serverArgs, TENANT, writeCerts } from "./stack.js";

const CONNECTIONS = 50;

export interface RelayFigures {
  readonly direct: LoadResult;
  readonly relayed: LoadResult;
}

/** Runs the relay benchmark: `rounds` rounds of `durationS` seconds per variant. */
export async function measureRelay(
  cli: string,
  nodeFlags: readonly string[],
  rounds: number,
  durationS: number,
): Promise<RelayFigures> {
  const adminDsn = process.env.HOPGATE_BENCH_PG_DSN || process.env.HOPGATE_TEST_PG_DSN;
  if (!adminDsn)
    throw new Error("bench relay: set HOPGATE_BENCH_PG_DSN (or HOPGATE_TEST_PG_DSN) to a PostgreSQL server");
  const name = `hopgate_bench_${randomBytes(4).toString("hex")}`;
  await sql(adminDsn, `create database ${name}`);
  const url = new URL(adminDsn);
  url.pathname = `/${name}`;
  try {
    const dir = removeOnStop(mkdtempSync(join(tmpdir(), "hopgate-bench-relay-")));
    writeCerts(dir);
    const backend = startProcess("backend", process.execPath, [
      "--import",
      "tsx",
      join(import.meta.dirname, "backend.ts"),
    ]);
    const backendPort = Number((await backend.waitForLine((l) => typeof l.port === "number")).port);
    const start = async (label: string): Promise<{ process: BenchProcess; port: number }> => {
      mkdirSync(join(dir, label));
      writeCerts(join(dir, label));
      const server = startProcess(
        label,
        process.execPath,
        serverArgs(cli, nodeFlags, join(dir, label), "off"),
        {
          HOP_ADMIN_API_KEY: ADMIN_KEY,
          HOP_TUNNEL_MAX_STREAMS: "20000",
          HOP_DB_DSN: url.toString(),
          HOP_SERVER_PEER_LISTEN: "127.0.0.1:0",
        },
      );
      const listening = await server.waitForLine((l) => l.msg === "HopGate server listening");
      return { process: server, port: Number(listening.https_port) };
    };
    const a = await start("server-a");
    const b = await start("server-b");
    const apiKey = await register(a.port);
    const client = startProcess(
      "client",
      process.execPath,
      clientArgs(cli, nodeFlags, dir, { httpsPort: a.port, domain: TENANT, apiKey, backendPort }),
    );
    await client.waitForLine((l) => l.msg === "tunnel accepted");
    await b.process.waitForLine((l) => l.msg === "peer link up");
    const samples: { direct: LoadResult[]; relayed: LoadResult[] } = { direct: [], relayed: [] };
    for (let round = 0; round < rounds; round++) {
      process.stderr.write(`relay round ${round + 1}/${rounds}\n`);
      for (const [variant, port] of [
        ["direct", a.port],
        ["relayed", b.port],
      ] as const)
        samples[variant].push(
          await wrk({ url: `https://127.0.0.1:${port}`, host: TENANT }, "/1k", CONNECTIONS, durationS),
        );
    }
    return { direct: medianOf(samples.direct), relayed: medianOf(samples.relayed) };
  } finally {
    await sql(adminDsn, `drop database if exists ${name} with (force)`).catch(() => {});
  }
}

/** Prints the figures as a small table with the relayed/direct ratios. */
export function printRelayFigures(figures: RelayFigures): void {
  const row = (label: string, r: LoadResult) =>
    `${label.padEnd(22)} ${r.rps.toFixed(0).padStart(8)} ${String(r.p50Ms ?? "-").padStart(8)} ${String(r.p99Ms ?? "-").padStart(8)} ${String(r.errors).padStart(7)}\n`;
  process.stdout.write(
    `${"1 KiB, wrk -c50".padEnd(22)} ${"req/s".padStart(8)} ${"p50 ms".padStart(8)} ${"p99 ms".padStart(8)} ${"errors".padStart(7)}\n`,
  );
  process.stdout.write(row("direct to the holder", figures.direct));
  process.stdout.write(row("relayed (B -> A)", figures.relayed));
  process.stdout.write(`relayed/direct req/s: ${(figures.relayed.rps / figures.direct.rps).toFixed(2)}\n`);
}

function medianOf(results: readonly LoadResult[]): LoadResult {
  const of = (pick: (r: LoadResult) => number | null) =>
    median(results.map(pick).filter((v): v is number => v !== null));
  return {
    rps: of((r) => r.rps),
    p50Ms: of((r) => r.p50Ms),
    p99Ms: of((r) => r.p99Ms),
    errors: of((r) => r.errors),
  };
}

async function sql(dsn: string, text: string): Promise<void> {
  const client = new pg.Client({ connectionString: dsn });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}
