// `npm run bench:soak`: the soak (soak.ts) for 30 minutes by default; prints a line per interval
// while it runs, then a table; writes JSON to bench/results/. Exits 1 when any exchange failed.
// Options (or SOAK_* environment variables): --duration-seconds, --concurrency, --domains,
// --interval-seconds, --think-ms, --cli PATH (another compiled build), --label NAME.
import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { stopAll } from "./processes.js";
import { runSoak, type SoakReport } from "./soak.js";
import type { SoakInterval } from "./soak-stats.js";

const env = process.env;
const { values: args } = parseArgs({
  options: {
    "duration-seconds": { type: "string", default: env.SOAK_DURATION_SECONDS ?? "1800" },
    concurrency: { type: "string", default: env.SOAK_CONCURRENCY ?? "50" },
    domains: { type: "string", default: env.SOAK_DOMAINS ?? "3" },
    "interval-seconds": { type: "string", default: env.SOAK_INTERVAL_SECONDS ?? "30" },
    "think-ms": { type: "string", default: env.SOAK_THINK_MS ?? "50" },
    cli: { type: "string" },
    label: { type: "string", default: "" },
  },
});
const number = (name: keyof typeof args) => {
  const value = Number(args[name]);
  if (!Number.isFinite(value) || value < 0) throw new Error(`--${name} must be a number, got ${args[name]}`);
  return value;
};

process.on("SIGINT", () => void stopAll().then(() => process.exit(130)));
const header = [
  "t (s)",
  "exchanges",
  "errors",
  "small p50/p95/p99 ms",
  "1 MiB p99",
  "ws p99",
  "server MiB",
  "clients MiB",
];
const row = (i: SoakInterval) => [
  String(i.endSeconds),
  String(i.requests),
  String(i.errors),
  [i.latencyMs.small?.p50, i.latencyMs.small?.p95, i.latencyMs.small?.p99].map(ms).join("/"),
  ms(i.latencyMs.large?.p99),
  ms(i.latencyMs.websocket?.p99),
  i.serverRssMiB.toFixed(1),
  i.clientsRssMiB.map((m) => m.toFixed(1)).join(" "),
];
process.stderr.write(`${header.join(" | ")}\n`);
const report = await runSoak({
  durationSeconds: number("duration-seconds"),
  concurrency: number("concurrency"),
  domains: number("domains"),
  intervalSeconds: number("interval-seconds"),
  thinkMs: number("think-ms"),
  cli: args.cli === undefined ? undefined : resolve(args.cli),
  onInterval: (interval) => process.stderr.write(`${row(interval).join(" | ")}\n`),
});
printTable(report);
mkdirSync(join(import.meta.dirname, "results"), { recursive: true });
const file = join(
  import.meta.dirname,
  "results",
  `soak-${report.startedAt.replace(/[:.]/g, "-")}${args.label ? `-${args.label}` : ""}.json`,
);
writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
process.stdout.write(`\nwritten to ${file}\n`);
process.exitCode = report.errors === 0 ? 0 : 1;

function ms(value: number | null | undefined): string {
  return value === null || value === undefined ? "-" : value >= 100 ? value.toFixed(0) : value.toFixed(1);
}

function printTable(r: SoakReport): void {
  const rows = [header, ...r.intervals.map(row)];
  const widths = header.map((_, i) => Math.max(...rows.map((cells) => (cells[i] ?? "").length)));
  for (const cells of rows)
    process.stdout.write(`${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join("  ")}\n`);
  const trend = (slope: number | null) => (slope === null ? "-" : `${slope.toFixed(1)} MiB/h`);
  const growth = (mib: number | null) => (mib === null ? "-" : `${mib.toFixed(1)} MiB`);
  const grown = r.rssGrowthAfterWarmupMiB;
  process.stdout.write(
    `\n${r.requests} exchanges in ${r.options.durationSeconds} s, ${r.errors} errors, ` +
      `${r.bodiesVerified} bodies checked by SHA-256 ` +
      `(${r.resentOnClosedIdleConnection} of ${r.http1Requests} HTTP/1.1 requests were resends on a closed idle connection)` +
      `${r.errors ? ` ${JSON.stringify(r.errorsByKind)}: ${r.errorSamples.slice(0, 5).join("; ")}` : ""}\n` +
      `RSS trend over the second half: server ${trend(r.rssTrendMiBPerHour.server)}, ` +
      `clients ${r.rssTrendMiBPerHour.clients.map(trend).join(", ")}\n` +
      `RSS growth after the first ${grown.warmupSeconds} s: server ${growth(grown.server)}, ` +
      `clients ${grown.clients.map(growth).join(", ")}\n`,
  );
}
