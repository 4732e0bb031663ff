import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import { join } from "node:path";
import type { FreshServer } from "./memory.js";

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
    serverPerStreamKiB: number;
    clientPerStreamKiB: number;
  };
  /** --memory-only: one fresh server per round. */
  freshServers: FreshServer[];
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

/** The medians as a table, HopGate's ratio to direct, and the targets of issue 6. */
export function printTable(report: { medians: Record<string, Record<string, number>>; results: Results }) {
  const { medians, results } = report;
  const variants = ["direct", "hopgate-h1", "hopgate-h2", "nginx-h1"];
  const rows: string[][] = [["metric", ...variants, "h1/direct", "h2/direct", "target"]];
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
      ...variants.map((v) => fmt(byVariant[v])),
      ratio("hopgate-h1"),
      ratio("hopgate-h2"),
      targets[metric] ?? "",
    ]);
  }
  for (const [name, bytes] of Object.entries(results.rss)) {
    rows.push([
      `RSS ${name} (MiB)`,
      "",
      (bytes / MiB).toFixed(1),
      "",
      "",
      "",
      "",
      name === "server idle" ? "<= 80 MB (76.3 MiB)" : "",
    ]);
  }
  if (results.idleTunnels) {
    const t = results.idleTunnels;
    rows.push([
      `per idle tunnel (${t.accepted}/${t.count}), KiB`,
      "",
      fmt(t.perTunnelKiB),
      "",
      "",
      "",
      "",
      "<= 30 KiB",
    ]);
  }
  if (results.longPolls) {
    const p = results.longPolls;
    rows.push([`${p.count} long polls: ok/errors`, "", `${p.ok}/${p.errors}`, "", "", "", "", "0 errors"]);
    rows.push([
      "per in-flight stream KiB (server/client)",
      "",
      `${fmt(p.serverPerStreamKiB)}/${fmt(p.clientPerStreamKiB)}`,
      "",
      "",
      "",
      "",
      "<= 10 KiB",
    ]);
  }
  results.freshServers.forEach((fresh, i) => {
    const { idle, idleTunnels: t } = fresh;
    rows.push([
      `fresh server ${i + 1}: idle RSS (anon + file) MiB; per idle tunnel (${t.accepted}/${t.count}) KiB`,
      "",
      `${idle.rssMiB.toFixed(1)} (${idle.anonMiB.toFixed(1)} + ${idle.fileMiB.toFixed(1)}); ${fmt(t.perTunnelKiB)}`,
      "",
      "",
      "",
      "",
      "<= 80 MB (76.3 MiB); <= 30 KiB",
    ]);
  });
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length))) ?? [];
  for (const row of rows)
    process.stdout.write(`${row.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join("  ")}\n`);
}
