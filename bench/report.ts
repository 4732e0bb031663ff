import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import { join } from "node:path";
import type { DomainCost } from "./domains.js";
import type { WorkersSample } from "./workers.js";
import { floodRows, type FloodResult } from "./flood.js";
import type { FreshServer, PlainH2Server, RssSplit } from "./memory.js";

export interface Results {
  /** metric → variant → one value per round. */
  samples: Record<string, Record<string, number[]>>;
  /** RSS in bytes: idle, and peak under load. */
  rss: Record<string, number>;
  idleTunnels?: { perTunnelKiB: number; accepted: number; count: number };
  longPolls?: {
    ok: number;
    errors: number;
    count: number;
    /** The most polls the backend held at once: the divisor of the per-stream figures. */
    peakInFlight: number;
    serverPerStreamKiB: number;
    clientPerStreamKiB: number;
    serverInFlightPerStreamKiB?: number;
    clientInFlightPerStreamKiB?: number;
    /** The second pass: V8 heap in use plus external after a full GC, every poll in flight. */
    live: {
      ok: number;
      errors: number;
      peakInFlight: number;
      serverPerStreamKiB?: number;
      clientPerStreamKiB?: number;
    };
  };
  /** --memory-only: one fresh server per round. */
  freshServers: FreshServer[];
  /** --memory-only: the reference, one fresh plain Node.js HTTP/2 server per round. */
  plainH2Servers: PlainH2Server[];
  /** `npm run bench -- domains`: per round, each configuration of bench/domains.ts. */
  domainCosts?: DomainCost[][];
  workers?: WorkersSample[];
  /** The connection flood (bench/flood.ts). */
  flood?: FloodResult;
}

/** Machine, versions and settings of a run, as recorded in its JSON. */
export function environment(cli: string, nodeFlags: readonly string[]) {
  const version = (command: string, args: string[]) => {
    try {
      return execFileSync(command, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] })
        .trim()
        .split("\n")[0];
    } catch (error) {
      return `unavailable (${error instanceof Error ? error.message.split("\n")[0] : String(error)})`;
    }
  };
  const root = join(import.meta.dirname, "..");
  return {
    cores: cpus().length,
    cpuModel: cpus()[0]?.model ?? "unknown",
    totalMemoryBytes: totalmem(),
    load: loadavg(),
    node: process.version,
    hopgate: (JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string }).version,
    /** Of this checkout; the CLI measured may come from another build (`cli`). */
    checkoutCommit: version("git", ["-C", root, "rev-parse", "--short", "HEAD"]),
    cli,
    nodeFlags,
    wrk: version("sh", ["-c", "wrk -v 2>&1 | head -1"]),
    nginx: version("sh", ["-c", "nginx -v 2>&1"]),
    curl: version("curl", ["--version"]),
  };
}

const MiB = 1024 * 1024;
const fmt = (value: number | undefined) =>
  value === undefined || Number.isNaN(value) ? "-" : value >= 100 ? value.toFixed(0) : value.toFixed(2);

/** Variants in the table's order, and the heading of each: the references are marked `ref`. */
const COLUMNS = [
  ["direct", "direct"],
  ["hopgate-h1", "hopgate-h1"],
  ["hopgate-h2", "hopgate-h2"],
  ["nginx-h1", "ref nginx-h1"],
  ["node-h1", "ref node-h1"],
  ["node-h2", "ref node-h2"],
] as const;
/** Ratio columns: each variant against direct (requests/s only). */
const RATIOS = [
  ["hopgate-h1", "h1/direct"],
  ["hopgate-h2", "h2/direct"],
  ["nginx-h1", "ref nginx-h1/direct"],
  ["node-h1", "ref node-h1/direct"],
  ["node-h2", "ref node-h2/direct"],
] as const;

/**
 * The medians as a table, the ratios to direct of HopGate and of the references, the targets of
 * issue 6, and a legend of the references.
 */
export function printTable(report: { medians: Record<string, Record<string, number>>; results: Results }) {
  const { medians, results } = report;
  const rows: string[][] = [
    ["metric", ...COLUMNS.map(([, heading]) => heading), ...RATIOS.map(([, heading]) => heading), "target"],
  ];
  /** A row with one figure, in the hopgate-h1 column. */
  const single = (metric: string, value: string, target: string) => {
    const cells = Array<string>(COLUMNS.length + RATIOS.length).fill("");
    cells[1] = value;
    rows.push([metric, ...cells, target]);
  };
  const targets: Record<string, string> = {
    "1k req/s": ">= 35 %",
    "1m req/s": ">= 25 %",
    "100 MiB MiB/s": ">= 400 MiB/s",
    "1000/s p99 ms": "<= direct + 2 ms",
  };
  for (const [metric, byVariant] of Object.entries(medians)) {
    const direct = byVariant.direct;
    const ratio = (variant: string) =>
      metric.includes("req/s") && direct
        ? `${(((byVariant[variant] ?? NaN) / direct) * 100).toFixed(1)} %`
        : "";
    rows.push([
      metric,
      ...COLUMNS.map(([variant]) => fmt(byVariant[variant])),
      ...RATIOS.map(([variant]) => ratio(variant)),
      targets[metric] ?? "",
    ]);
  }
  for (const [name, bytes] of Object.entries(results.rss)) {
    single(
      `RSS ${name} (MiB)`,
      (bytes / MiB).toFixed(1),
      name === "server idle" ? "<= 80 MB (76.3 MiB)" : "",
    );
  }
  if (results.idleTunnels) {
    const t = results.idleTunnels;
    single(`per idle tunnel (${t.accepted}/${t.count}), KiB`, fmt(t.perTunnelKiB), "<= 30 KiB");
  }
  if (results.longPolls) {
    const p = results.longPolls;
    single(`${p.count} long polls: ok/errors`, `${p.ok}/${p.errors}`, "0 errors");
    single(
      `per in-flight stream KiB (server/client; ${p.peakInFlight} at the peak)`,
      `${fmt(p.serverPerStreamKiB)}/${fmt(p.clientPerStreamKiB)}`,
      "<= 10 KiB",
    );
    const allInFlight = (server: number | undefined, client: number | undefined) =>
      server === undefined ? "not every poll in flight at once" : `${fmt(server)}/${fmt(client)}`;
    single(
      "  RSS once every poll is in flight, per stream KiB",
      allInFlight(p.serverInFlightPerStreamKiB, p.clientInFlightPerStreamKiB),
      "",
    );
    single(
      `  live after a full GC, per stream KiB (2nd pass: ${p.live.ok}/${p.live.errors} ok/errors)`,
      allInFlight(p.live.serverPerStreamKiB, p.live.clientPerStreamKiB),
      "",
    );
  }
  results.freshServers.forEach((fresh, i) => {
    const { idle, idleTunnels: t } = fresh;
    single(
      `fresh server ${i + 1}: idle RSS (anon + file) MiB; per idle tunnel (${t.accepted}/${t.count}) KiB`,
      `${split(idle)}; ${fmt(t.perTunnelKiB)}`,
      "<= 80 MB (76.3 MiB); <= 30 KiB",
    );
    const plain = results.plainH2Servers[i];
    if (!plain) return;
    const c = plain.idleStreams;
    single(
      `ref plain Node.js HTTP/2 server ${i + 1}: idle RSS (anon + file) MiB; per idle connection with one open stream (${c.accepted}/${c.count}) KiB`,
      `${split(plain.idle)}; ${fmt(c.perConnectionKiB)}`,
      "",
    );
  });
  if (results.flood)
    for (const [metric, value, target] of floodRows(results.flood)) single(metric, value, target);
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length))) ?? [];
  for (const row of rows)
    process.stdout.write(`${row.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join("  ")}\n`);
  process.stdout.write(
    "ref: references measured in the same run. nginx-h1: nginx as a one-hop TLS reverse proxy. " +
      "node-h1, node-h2 and the plain Node.js HTTP/2 server: the cheapest Node.js hop (bench/node-proxy.ts, " +
      "bench/plain-h2-server.ts: Node's built-ins, HopGate's V8 flags), the floor a Node.js implementation " +
      "does not go under.\n",
  );
}

function split(rss: RssSplit): string {
  return `${rss.rssMiB.toFixed(1)} (${rss.anonMiB.toFixed(1)} + ${rss.fileMiB.toFixed(1)})`;
}
