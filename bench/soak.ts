// The soak: a steady mix of traffic (small, 1 MiB, event streams, WebSockets) through several
// tunnels for a long time, watching errors, latency per interval and memory over time.
// `npm run bench:soak` runs it (soak-cli.ts); test/reliability/soak.test.ts runs it for 60 s.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { HOPGATE_NODE_FLAGS } from "../src/lib/node-flags.js";
import { startProcess, type BenchProcess } from "./processes.js";
import {
  IntervalStats,
  rssGrowthAfterWarmupMiB,
  rssTrendMiBPerHour,
  type RssSample,
  type SoakInterval,
} from "./soak-stats.js";
import { createVisitor, TRAFFIC_MIX, type TrafficKind, type Visitor } from "./soak-traffic.js";
import { ADMIN_KEY, clientArgs, register, serverArgs, writeCerts } from "./stack.js";

export interface SoakOptions {
  readonly durationSeconds: number;
  /** Visitors, each with one exchange in flight at a time (closed loop). */
  readonly concurrency: number;
  /** Tunnelled domains, one client process each. */
  readonly domains: number;
  readonly intervalSeconds: number;
  /** Start of the RSS growth measurement (default: a third of the duration, at most 60 s). */
  readonly warmupSeconds?: number;
  /** Pause of each visitor between its exchanges (0: back to back). */
  readonly thinkMs?: number;
  /** Compiled CLI to run (default: this checkout's dist/). */
  readonly cli?: string;
  readonly nodeFlags?: readonly string[];
  readonly onInterval?: (interval: SoakInterval) => void;
}

export interface SoakReport {
  readonly options: Omit<SoakOptions, "onInterval">;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly requests: number;
  readonly errors: number;
  readonly errorsByKind: Partial<Record<TrafficKind, number>>;
  /** HTTP/1.1 requests resent after their idle keep-alive connection was closed (not errors). */
  readonly resentOnClosedIdleConnection: number;
  /** HTTP/1.1 requests sent, resends included. */
  readonly http1Requests: number;
  /** Bodies (downloads and event streams) whose SHA-256 matched what the backend sent. */
  readonly bodiesVerified: number;
  /** The first few errors, as "kind: message". */
  readonly errorSamples: string[];
  readonly intervals: SoakInterval[];
  /** Least-squares RSS slope over the second half, MiB per hour (null: too short to tell). */
  readonly rssTrendMiBPerHour: { readonly server: number | null; readonly clients: Array<number | null> };
  /** Highest RSS after the warm-up less RSS at its end, MiB (null: no sample after it). */
  readonly rssGrowthAfterWarmupMiB: {
    readonly warmupSeconds: number;
    readonly server: number | null;
    readonly clients: Array<number | null>;
  };
  readonly rssSamples: { readonly server: RssSample[]; readonly clients: RssSample[][] };
}

const RSS_SAMPLE_MS = 5000;
const MAX_ERROR_SAMPLES = 20;

/** Runs the soak against freshly started processes and stops them, also when it fails. */
export async function runSoak(options: SoakOptions): Promise<SoakReport> {
  const dir = mkdtempSync(join(tmpdir(), "hopgate-soak-"));
  const processes: BenchProcess[] = [];
  try {
    const stack = await startSoakStack(dir, options, processes);
    return await drive(stack, options);
  } finally {
    await Promise.all(processes.map((p) => p.stop()));
    rmSync(dir, { recursive: true, force: true });
  }
}

interface SoakStack {
  readonly httpsPort: number;
  readonly domains: string[];
  readonly server: BenchProcess;
  readonly clients: BenchProcess[];
}

async function startSoakStack(
  dir: string,
  options: SoakOptions,
  processes: BenchProcess[],
): Promise<SoakStack> {
  const cli = options.cli ?? join(import.meta.dirname, "../dist/cli/main.js");
  const nodeFlags = options.nodeFlags ?? HOPGATE_NODE_FLAGS;
  writeCerts(dir);
  const started = (p: BenchProcess) => (processes.push(p), p);
  const backend = started(
    startProcess("backend", process.execPath, ["--import", "tsx", join(import.meta.dirname, "backend.ts")]),
  );
  const backendPort = Number((await backend.waitForLine((l) => typeof l.port === "number")).port);
  const server = started(
    startProcess("server", process.execPath, serverArgs(cli, nodeFlags, dir, "off"), {
      HOP_ADMIN_API_KEY: ADMIN_KEY,
    }),
  );
  const listening = await server.waitForLine((l) => l.msg === "HopGate server listening");
  const httpsPort = Number(listening.https_port);
  const domains = Array.from({ length: options.domains }, (_, i) => `soak-${i}.bench.test`);
  const clients: BenchProcess[] = [];
  for (const domain of domains) {
    const key = await register(httpsPort, domain);
    const client = started(
      startProcess(
        `client ${domain}`,
        process.execPath,
        clientArgs(cli, nodeFlags, dir, { httpsPort, domain, apiKey: key, backendPort }),
      ),
    );
    clients.push(client);
  }
  await Promise.all(clients.map((c) => c.waitForLine((l) => l.msg === "tunnel accepted")));
  return { httpsPort, domains, server, clients };
}

async function drive(stack: SoakStack, options: SoakOptions): Promise<SoakReport> {
  const startedAt = new Date();
  const startMs = performance.now();
  const elapsedSeconds = () => (performance.now() - startMs) / 1000;
  const visitors: Visitor[] = stack.domains.map((domain) => createVisitor(stack.httpsPort, domain));
  const stats = new IntervalStats();
  const intervals: SoakInterval[] = [];
  const errorsByKind: Partial<Record<TrafficKind, number>> = {};
  const errorSamples: string[] = [];
  const rssSamples = { server: [] as RssSample[], clients: stack.clients.map(() => [] as RssSample[]) };
  const sampleRss = () => {
    const seconds = elapsedSeconds();
    rssSamples.server.push({ seconds, bytes: stack.server.rssBytes() });
    stack.clients.forEach((c, i) => rssSamples.clients[i]?.push({ seconds, bytes: c.rssBytes() }));
  };
  const closeInterval = () => {
    const interval = stats.take(
      Math.round(elapsedSeconds()),
      stack.server.rssBytes(),
      stack.clients.map((c) => c.rssBytes()),
    );
    intervals.push(interval);
    options.onInterval?.(interval);
  };
  sampleRss();
  const rssTimer = setInterval(sampleRss, Math.min(RSS_SAMPLE_MS, (options.intervalSeconds * 1000) / 2));
  const intervalTimer = setInterval(closeInterval, options.intervalSeconds * 1000);
  const deadline = startMs + options.durationSeconds * 1000;
  const worker = async (index: number) => {
    const visitor = visitors[index % visitors.length] as Visitor;
    const overHttp2 = index % 2 === 1;
    while (performance.now() < deadline) {
      const kind = pickKind();
      const began = performance.now();
      try {
        await visitor.run(kind, overHttp2);
        stats.record(kind, performance.now() - began, true);
      } catch (error) {
        stats.record(kind, performance.now() - began, false);
        errorsByKind[kind] = (errorsByKind[kind] ?? 0) + 1;
        if (errorSamples.length < MAX_ERROR_SAMPLES)
          errorSamples.push(`${kind}${overHttp2 ? " (h2)" : ""}: ${(error as Error).message}`);
      }
      if (options.thinkMs) await sleep(options.thinkMs);
    }
  };
  try {
    await Promise.all(Array.from({ length: options.concurrency }, (_, i) => worker(i)));
  } finally {
    clearInterval(rssTimer);
    clearInterval(intervalTimer);
    visitors.forEach((v) => v.close());
  }
  if (stats.pending > 0) closeInterval();
  sampleRss();
  const { onInterval: _, ...reported } = options;
  const warmupSeconds = options.warmupSeconds ?? Math.min(60, options.durationSeconds / 3);
  return {
    options: reported,
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    requests: intervals.reduce((sum, i) => sum + i.requests, 0),
    errors: intervals.reduce((sum, i) => sum + i.errors, 0),
    errorsByKind,
    resentOnClosedIdleConnection: visitors.reduce((sum, v) => sum + v.resent, 0),
    http1Requests: visitors.reduce((sum, v) => sum + v.http1Requests, 0),
    bodiesVerified: visitors.reduce((sum, v) => sum + v.bodiesVerified, 0),
    errorSamples,
    intervals,
    rssTrendMiBPerHour: {
      server: rssTrendMiBPerHour(rssSamples.server),
      clients: rssSamples.clients.map(rssTrendMiBPerHour),
    },
    rssGrowthAfterWarmupMiB: {
      warmupSeconds,
      server: rssGrowthAfterWarmupMiB(rssSamples.server, warmupSeconds),
      clients: rssSamples.clients.map((samples) => rssGrowthAfterWarmupMiB(samples, warmupSeconds)),
    },
    rssSamples,
  };
}

const MIX_TOTAL = TRAFFIC_MIX.reduce((sum, [, weight]) => sum + weight, 0);

function pickKind(): TrafficKind {
  let draw = Math.random() * MIX_TOTAL;
  for (const [kind, weight] of TRAFFIC_MIX) if ((draw -= weight) < 0) return kind;
  return "small";
}
