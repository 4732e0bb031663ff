// `npm run bench`: HopGate against direct access and two references, nginx (when installed) and
// the cheapest Node.js hop (bench/node-proxy.ts), in one run, A/B alternated, medians of several
// rounds. Prints a table, writes JSON to bench/results/.
// Options: --quick (one short round), --rounds N, --duration S, --cli PATH (another compiled
// build, e.g. an older commit's, for before/after), --flags "..." (V8 flags instead of the
// product's), --label NAME (in the file name), --skip-scale (no 1,000 tunnels / 10,000 polls),
// --memory-only (per round a fresh server alone: idle RSS and RSS per idle tunnel, and the same of
// a plain Node.js HTTP/2 server as the reference; no wrk needed), --variants LIST (comma-separated
// among direct, hopgate-h1, hopgate-h2, nginx-h1, node-h1, node-h2; all available by default),
// --only FIGURES (comma-separated among load, rate, download, gc; all but gc by default; gc
// loads bench/gc-probe.ts into server and client and counts their allocation and GCs per request
// at a fixed 1,000 requests/s), --server-env "NAME=value ..." (more environment for the HopGate
// server alone, e.g. LD_PRELOAD or GLIBC_TUNABLES, to compare allocators), --flood-connections N
// (10,000 by default).
// Cases: `npm run bench` runs all of the above and, unless --skip-scale, the connection flood
// (bench/flood.ts); `npm run bench -- flood` runs the flood alone, `npm run bench -- domains`
// the config file's per-domain cost alone (bench/domains.ts: one client serving 1, 10 and 50
// domains and, for comparison, 10 clients of one domain each, each on a fresh server); neither needs wrk.
// `npm run bench -- workers`: 1 KiB requests/s of `--workers 2` against 1 (bench/workers.ts; wrk).
// `npm run bench -- relay` the peer relay's overhead alone (bench/relay.ts; needs PostgreSQL and wrk).
import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { setTimeout as sleep } from "node:timers/promises";
import { HOPGATE_NODE_FLAGS } from "../src/lib/node-flags.js";
import { measureDomainCost, printDomainCosts, type DomainCost } from "./domains.js";
import { GC_PROBE_FLAGS, gcPerRequest, gcSnapshot } from "./gc-figure.js";
import { HEAP_PROBE_FLAGS } from "./heap-figure.js";
import { withCpuSeconds, withOtherLoad } from "./machine-load.js";
import { downloads, generator, median, wrk, type LoadResult, type Target } from "./measure.js";
import { stopAll, withPeakRss } from "./processes.js";
import { FLOOD_SERVER_ENV, measureFlood } from "./flood.js";
import { environment, printTable, type Results } from "./report.js";
import { measureFreshServer, measurePlainH2Server } from "./memory.js";
import { measureIdleTunnels, measureLongPolls } from "./scale.js";
import { measureRelay, printRelayFigures } from "./relay.js";
import { startStack, TENANT, type Stack } from "./stack.js";
import { measureWorkers, printWorkers } from "./workers.js";

const { values: args, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    quick: { type: "boolean", default: false },
    rounds: { type: "string" },
    duration: { type: "string" },
    cli: { type: "string", default: join(import.meta.dirname, "../dist/cli/main.js") },
    flags: { type: "string" },
    label: { type: "string", default: "" },
    "skip-scale": { type: "boolean", default: false },
    "memory-only": { type: "boolean", default: false },
    only: { type: "string", default: "load,rate,download" },
    variants: { type: "string" },
    "server-env": { type: "string", default: "" },
    "flood-connections": { type: "string", default: "10000" },
  },
});
const CASES = ["flood", "domains", "workers", "relay"] as const;
const chosenCase = positionals[0];
if (
  positionals.length > 1 ||
  (chosenCase !== undefined && !(CASES as readonly string[]).includes(chosenCase))
) {
  process.stderr.write(
    `bench: the cases that run alone are ${CASES.join(", ")}; got ${positionals.join(" ")}\n`,
  );
  process.exit(2);
}
const floodConnections = Number(args["flood-connections"]);
/** --server-env, e.g. "LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2 MALLOC_CONF=background_thread:true". */
const serverEnv: Record<string, string> = {};
for (const pair of args["server-env"].split(" ").filter(Boolean)) {
  const equals = pair.indexOf("=");
  if (equals < 1) {
    process.stderr.write(`bench: --server-env takes NAME=value pairs; got ${pair}\n`);
    process.exit(2);
  }
  serverEnv[pair.slice(0, equals)] = pair.slice(equals + 1);
}
const rounds = Number(args.rounds ?? (args.quick ? 1 : 3));
const durationS = Number(args.duration ?? (args.quick ? 3 : 5));
const nodeFlags = args.flags === undefined ? HOPGATE_NODE_FLAGS : args.flags.split(" ").filter(Boolean);
if (chosenCase === "relay") {
  // The peer relay's overhead alone (bench/relay.ts); prints its own table.
  try {
    printRelayFigures(await measureRelay(resolve(args.cli), nodeFlags, rounds, durationS));
  } finally {
    await stopAll();
  }
  process.exit(0);
}
const FIGURES = ["load", "rate", "download", "gc"] as const;
const only = new Set(args.only.split(",").filter(Boolean));
for (const figure of only) {
  if (!(FIGURES as readonly string[]).includes(figure)) {
    process.stderr.write(`bench: --only takes ${FIGURES.join(", ")}; got ${figure}\n`);
    process.exit(2);
  }
}

const VARIANTS = ["direct", "hopgate-h1", "hopgate-h2", "nginx-h1", "node-h1", "node-h2"] as const;
type Variant = (typeof VARIANTS)[number];
const MiB = 1024 * 1024;
const isVariant = (name: string): name is Variant => (VARIANTS as readonly string[]).includes(name);
/** --variants; undefined: every variant available. */
const chosenVariants = args.variants?.split(",").filter(Boolean);
for (const variant of chosenVariants ?? []) {
  if (!isVariant(variant)) {
    process.stderr.write(`bench: --variants takes ${VARIANTS.join(", ")}; got ${variant}\n`);
    process.exit(2);
  }
}
if (chosenVariants?.length === 0) {
  process.stderr.write(`bench: --variants takes at least one of ${VARIANTS.join(", ")}\n`);
  process.exit(2);
}

const results: Results = { samples: {}, rss: {}, freshServers: [], plainH2Servers: [] };
const record = (metric: string, variant: string, value: number | null) => {
  const byVariant = (results.samples[metric] ??= {});
  (byVariant[variant] ??= []).push(value ?? NaN);
};
const peak = (name: string, bytes: number) => (results.rss[name] = Math.max(results.rss[name] ?? 0, bytes));

// wrk drives the HTTP/1.1 figures: without it the run would fail minutes in, half measured.
if (
  !args["memory-only"] &&
  (chosenCase === undefined || chosenCase === "workers") &&
  spawnSync("wrk", ["-v"]).error
) {
  process.stderr.write("bench: wrk is not installed (Debian: apt-get install wrk)\n");
  process.exit(2);
}
const startedAt = new Date();
const before = environment(resolve(args.cli), nodeFlags);
process.on("SIGINT", () => void stopAll().then(() => process.exit(130)));
try {
  if (chosenCase === "flood") await floodAlone();
  else if (chosenCase === "domains") await domainRounds();
  else if (chosenCase === "workers")
    results.workers = await measureWorkers(resolve(args.cli), nodeFlags, rounds, durationS);
  else if (args["memory-only"]) await memoryRounds();
  else await loadRounds();
} finally {
  await stopAll();
}
const file = join(
  import.meta.dirname,
  "results",
  `${startedAt.toISOString().replace(/[:.]/g, "-")}${args.label ? `-${args.label}` : ""}.json`,
);
const medians = Object.fromEntries(
  Object.entries(results.samples).map(([metric, byVariant]) => [
    metric,
    Object.fromEntries(Object.entries(byVariant).map(([variant, values]) => [variant, median(values)])),
  ]),
);
const report = {
  startedAt,
  finishedAt: new Date(),
  environment: { ...before, loadAfter: environment(resolve(args.cli), nodeFlags).load },
  settings: { rounds, durationS, serverEnv, floodConnections },
  medians,
  results,
};
// bench/results/ holds only ignored files: a fresh checkout does not have it.
mkdirSync(dirname(file), { recursive: true });
writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
if (chosenCase === "domains") printDomainCosts(results.domainCosts ?? []);
else if (chosenCase === "workers") printWorkers(results.workers ?? []);
else printTable(report);
process.stdout.write(`\nwritten to ${file}\n`);

/** Load, fixed-rate and download rounds against one stack, then the scale checks. */
async function loadRounds(): Promise<void> {
  const stack = await startStack(
    resolve(args.cli),
    [...nodeFlags, ...HEAP_PROBE_FLAGS, ...(only.has("gc") ? GC_PROBE_FLAGS : [])],
    { ...FLOOD_SERVER_ENV, ...serverEnv },
  );
  await sleep(2000);
  results.rss["server idle"] = stack.server.rssBytes();
  results.rss["client idle"] = stack.client.rssBytes();
  const variants = VARIANTS.filter(
    (v) => chosenVariants?.includes(v) ?? (v !== "nginx-h1" || stack.nginx !== undefined),
  );
  if (variants.includes("nginx-h1") && !stack.nginx)
    throw new Error(
      "bench: --variants nginx-h1, but nginx is not installed (Debian: apt-get install nginx-light)",
    );
  for (let round = 0; round < rounds; round++) {
    const order = [...variants.slice(round % variants.length), ...variants.slice(0, round % variants.length)];
    process.stderr.write(`round ${round + 1}/${rounds}: ${order.join(", ")}\n`);
    if (only.has("load")) for (const variant of order) await loadRound(stack, variant);
    if (only.has("rate")) for (const variant of order) await rateRound(stack, variant);
    if (only.has("download")) for (const variant of order) await downloadRound(stack, variant);
    if (only.has("gc"))
      for (const variant of order) if (variant.startsWith("hopgate")) await gcRound(stack, variant);
  }
  if (!args["skip-scale"]) {
    Object.assign(results, {
      idleTunnels: await measureIdleTunnels(stack, 1000),
      longPolls: await measureLongPolls(stack, 10_000),
    });
    results.flood = await measureFlood(stack, floodConnections);
  }
}

/** `npm run bench -- flood`: a fresh stack, the connection flood alone. */
async function floodAlone(): Promise<void> {
  const stack = await startStack(resolve(args.cli), nodeFlags, { ...FLOOD_SERVER_ENV, ...serverEnv });
  await sleep(2000);
  results.flood = await measureFlood(stack, floodConnections);
}

/**
 * Per round, a fresh server alone: idle RSS, and RSS per tunnel with 1,000 idle tunnels; then the
 * reference, a fresh plain Node.js HTTP/2 server: idle RSS, and RSS per connection with 1,000 idle
 * connections holding one open stream each.
 */
async function memoryRounds(): Promise<void> {
  for (let round = 0; round < rounds; round++) {
    process.stderr.write(`memory round ${round + 1}/${rounds}\n`);
    results.freshServers.push(await measureFreshServer(resolve(args.cli), nodeFlags, 1000));
    results.plainH2Servers.push(await measurePlainH2Server(nodeFlags, 1000));
  }
}

/**
 * Per round, the config file's per-domain cost (bench/domains.ts): one client serving 1, 10 and
 * 50 domains, then 10 clients serving one domain each; a fresh server for each.
 */
async function domainRounds(): Promise<void> {
  const configurations: Array<[domains: number, clientProcesses: number]> = [
    [1, 1],
    [10, 1],
    [50, 1],
    [10, 10],
  ];
  for (let round = 0; round < rounds; round++) {
    process.stderr.write(`domains round ${round + 1}/${rounds}\n`);
    const costs: DomainCost[] = [];
    for (const [domains, clientProcesses] of configurations) {
      costs.push(await measureDomainCost(resolve(args.cli), nodeFlags, domains, clientProcesses));
    }
    (results.domainCosts ??= []).push(costs);
  }
}

/** hopgate-h2 and node-h2: driven by bench/load-generator.ts and curl over HTTP/2, the others over HTTP/1.1. */
function isHttp2(variant: Variant): boolean {
  return variant.endsWith("-h2");
}

function targetOf(stack: Stack, variant: Variant): Target {
  if (variant === "direct") return { url: `http://127.0.0.1:${stack.backendPort}`, host: TENANT };
  if (variant === "nginx-h1") return { url: `https://127.0.0.1:${stack.nginx?.port ?? 0}`, host: TENANT };
  if (variant.startsWith("node")) return { url: `https://127.0.0.1:${stack.nodeProxy.port}`, host: TENANT };
  return { url: `https://127.0.0.1:${stack.httpsPort}`, host: TENANT };
}

/** The processes between the load tool and the backend: what a variant itself costs in CPU. */
function pathPids(stack: Stack, variant: Variant): number[] {
  const processes =
    variant === "direct"
      ? []
      : variant === "nginx-h1"
        ? [stack.nginx?.process]
        : variant.startsWith("node")
          ? [stack.nodeProxy.process]
          : [stack.server, stack.client];
  return processes.flatMap((p) => (p?.child.pid === undefined ? [] : [p.child.pid]));
}

/**
 * Runs `work` for one figure, recording the cores other processes on the machine used meanwhile
 * and, when HopGate carries it, the peak RSS of server and client. `pathCpuSeconds`: the CPU
 * time of the variant's own processes (pathPids) meanwhile, 0 for direct.
 */
async function observed<T>(
  stack: Stack,
  variant: Variant,
  figure: string,
  work: () => Promise<T>,
): Promise<{ result: T; pathCpuSeconds: number }> {
  const pids = [
    stack.backend,
    stack.server,
    stack.client,
    stack.nginx?.process,
    stack.nodeProxy.process,
  ].flatMap((p) => (p?.child.pid === undefined ? [] : [p.child.pid]));
  const { result: measured, otherCores } = await withOtherLoad(pids, () =>
    withCpuSeconds(pathPids(stack, variant), async () => {
      if (!variant.startsWith("hopgate")) return work();
      const { result, peakBytes } = await withPeakRss([stack.server, stack.client], work);
      peak("server under load", peakBytes[0] ?? 0);
      peak("client under load", peakBytes[1] ?? 0);
      return result;
    }),
  );
  record(`${figure} other cores`, variant, otherCores);
  return { result: measured.result, pathCpuSeconds: measured.cpuSeconds };
}

/** Records the path's CPU per request in µs (none for direct, whose path is empty). */
function recordCpuPerRequest(figure: string, variant: Variant, cpuSeconds: number, requests: number): void {
  if (variant !== "direct" && requests > 0)
    record(`${figure} cpu µs/req`, variant, (cpuSeconds / requests) * 1e6);
}

async function loadRound(stack: Stack, variant: Variant): Promise<void> {
  const target = targetOf(stack, variant);
  for (const size of ["1k", "1m"] as const) {
    const { result, pathCpuSeconds } = await observed(stack, variant, size, (): Promise<LoadResult> =>
      isHttp2(variant)
        ? generator("closed", {
            url: `${target.url}/${size}`,
            host: target.host,
            http2: true,
            connections: 50,
            durationMs: durationS * 1000,
          })
        : wrk(target, `/${size}`, 50, durationS),
    );
    record(`${size} req/s`, variant, result.rps);
    record(`${size} p50 ms`, variant, result.p50Ms);
    record(`${size} p99 ms`, variant, result.p99Ms);
    record(`${size} errors`, variant, result.errors);
    recordCpuPerRequest(size, variant, pathCpuSeconds, result.rps * durationS);
  }
}

/** 1 KiB requests at a fixed 1,000 per second over 50 connections, for one round. */
function fixedRate(target: Target, variant: Variant): ReturnType<typeof generator> {
  return generator("rate", {
    url: `${target.url}/1k`,
    host: target.host,
    http2: isHttp2(variant),
    connections: 50,
    rate: 1000,
    durationMs: durationS * 1000,
  });
}

async function rateRound(stack: Stack, variant: Variant): Promise<void> {
  const target = targetOf(stack, variant);
  const { result, pathCpuSeconds } = await observed(stack, variant, "1000/s", () =>
    fixedRate(target, variant),
  );
  record("1000/s p50 ms", variant, result.p50Ms);
  record("1000/s p99 ms", variant, result.p99Ms);
  record("1000/s errors", variant, result.errors);
  recordCpuPerRequest("1000/s", variant, pathCpuSeconds, result.sent);
}

/**
 * Allocation and GCs of server and client per request at a fixed 1,000 requests/s (counted from
 * V8's own records, so a busy machine changes them little), with the p99 as a secondary figure.
 */
async function gcRound(stack: Stack, variant: Variant): Promise<void> {
  const target = targetOf(stack, variant);
  const before = await Promise.all([gcSnapshot(stack.server), gcSnapshot(stack.client)]);
  const { result } = await observed(stack, variant, "gc", () => fixedRate(target, variant));
  const after = await Promise.all([gcSnapshot(stack.server), gcSnapshot(stack.client)]);
  (["server", "client"] as const).forEach((name, i) => {
    const figures = gcPerRequest(before[i]!, after[i]!, result.sent);
    for (const [figure, value] of Object.entries(figures)) record(`gc ${name} ${figure}`, variant, value);
  });
  record("gc p99 ms", variant, result.p99Ms);
  record("gc errors", variant, result.errors);
}

async function downloadRound(stack: Stack, variant: Variant): Promise<void> {
  const target = targetOf(stack, variant);
  const protocol = isHttp2(variant) ? "h2" : "h1";
  for (const parallel of [1, 8]) {
    const figure = parallel === 1 ? "100 MiB" : "8x100 MiB";
    const { result, pathCpuSeconds } = await observed(stack, variant, figure, () =>
      downloads(target, "/stream?mib=100", parallel, protocol),
    );
    record(`${figure} MiB/s`, variant, result.mibPerS);
    record(`${figure} failures`, variant, result.failures);
    if (variant !== "direct" && result.bytes > 0) {
      record(`${figure} cpu ms/MiB`, variant, (pathCpuSeconds * 1000) / (result.bytes / MiB));
    }
  }
}
