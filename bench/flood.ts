import { readFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { generator } from "./measure.js";
import { rssSplit, type RssSplit } from "./memory.js";
import { startProcess, withPeakRss } from "./processes.js";
import { TENANT, type Stack } from "./stack.js";

const MiB = 1024 * 1024;
/** How long RSS is followed once the flood has closed (issue 12 §4: back under 2x within 60 s). */
const AFTER_S = 60;
/** The normal requests measured before and during the flood: HTTP/1.1, 10 connections, 100/s. */
const NORMAL_REQUESTS = { http2: false, connections: 10, rate: 100, durationMs: 10_000 } as const;

export type FloodResult = Awaited<ReturnType<typeof measureFlood>>;

/**
 * A connection flood against the stack's server: its RSS before; `count` idle TLS connections
 * from one address (bench/tls-flood.ts: handshakes completed, then silent) and, once all are
 * open, normal requests through the tunnel (success and latency, against the same requests
 * before the flood); the peak RSS meanwhile; then the flood closes and RSS is sampled every
 * second for 60 s. The stack's server must keep silent connections for the whole flood
 * (HOP_SERVER_HEADERS_TIMEOUT_SECONDS beyond it: FLOOD_SERVER_ENV).
 */
export async function measureFlood(stack: Stack, count: number) {
  const pid = stack.server.child.pid ?? 0;
  const requests = () =>
    generator("rate", { url: `https://127.0.0.1:${stack.httpsPort}/1k`, host: TENANT, ...NORMAL_REQUESTS });
  // Also the warm-up: "before" is a server that has served requests, not a fresh one.
  const normalBefore = await requests();
  await sleep(3000);
  const before = rssSplit(pid);
  const flood = startProcess("tls flood", process.execPath, [
    "--import",
    "tsx",
    join(import.meta.dirname, "tls-flood.ts"),
    JSON.stringify({ port: stack.httpsPort, servername: TENANT, count }),
  ]);
  const startedMs = performance.now();
  const { result, peakBytes } = await withPeakRss([stack.server], async () => {
    const opened = await flood.waitForLine((l) => typeof l.accepted === "number", 600_000);
    const openedS = (performance.now() - startedMs) / 1000;
    const normalDuring = await requests();
    return { opened, openedS, normalDuring, rssWithFlood: rssSplit(pid) };
  });
  await flood.stop();
  const afterMiB: number[] = [];
  for (let s = 1; s <= AFTER_S; s++) {
    await sleep(1000);
    afterMiB.push(stack.server.rssBytes() / MiB);
  }
  const after = rssSplit(pid);
  return {
    count,
    accepted: result.opened.accepted as number,
    failed: result.opened.failed as number,
    openedS: result.openedS,
    normalBefore,
    normalDuring: result.normalDuring,
    before,
    withFlood: result.rssWithFlood,
    peakMiB: (peakBytes[0] ?? 0) / MiB,
    afterMiB,
    after,
    /** Where the memory 60 s after is: the kernel's split, and V8's own figures. */
    smapsAfter: smapsRollup(pid),
    v8After: await v8Figures(stack.metricsPort),
    ratio: after.rssMiB / before.rssMiB,
  };
}

/**
 * Server environment for the flood: silent connections are kept through it (the default 20 s
 * headers timeout would close the first ones while the last ones open on a busy 2-core machine).
 */
export const FLOOD_SERVER_ENV: Readonly<Record<string, string>> = {
  HOP_SERVER_HEADERS_TIMEOUT_SECONDS: "600",
};

/** Resident and anonymous memory as /proc/PID/smaps_rollup counts it, MiB. */
function smapsRollup(pid: number): Record<string, number> {
  const text = readFileSync(`/proc/${pid}/smaps_rollup`, "utf8");
  const field = (name: string) =>
    Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(text)?.[1] ?? NaN) / 1024;
  return Object.fromEntries(
    ["Rss", "Anonymous", "Private_Dirty", "Private_Clean", "Shared_Clean"].map((n) => [n, field(n)]),
  );
}

/** V8 heap and external memory from the server's /metrics (prom-client's default metrics), MiB. */
async function v8Figures(metricsPort: number): Promise<Record<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const metric = (name: string) =>
    Number(new RegExp(`^${name} ([\\d.e+]+)`, "m").exec(text)?.[1] ?? NaN) / MiB;
  return {
    heapTotal: metric("nodejs_heap_size_total_bytes"),
    heapUsed: metric("nodejs_heap_size_used_bytes"),
    external: metric("nodejs_external_memory_bytes"),
  };
}

/** The flood's rows for the report. */
export function floodRows(flood: FloodResult): Array<[string, string, string]> {
  const mib = (value: number) => value.toFixed(1);
  const normal = (r: FloodResult["normalBefore"]) =>
    `${r.ok}/${r.ok + r.errors} ok, p50 ${r.p50Ms?.toFixed(1) ?? "-"} ms, p99 ${r.p99Ms?.toFixed(1) ?? "-"} ms`;
  const split = (s: RssSplit) => `${mib(s.rssMiB)} (anon ${mib(s.anonMiB)})`;
  return [
    [
      `flood: idle TLS connections held (of ${flood.count}), open after s`,
      `${flood.accepted}; ${flood.openedS.toFixed(1)}`,
      "",
    ],
    ["flood: normal requests before", normal(flood.normalBefore), ""],
    ["flood: normal requests during", normal(flood.normalDuring), "all ok"],
    [
      "flood: server RSS before / with / peak MiB",
      `${split(flood.before)} / ${split(flood.withFlood)} / ${mib(flood.peakMiB)}`,
      "",
    ],
    [`flood: server RSS ${AFTER_S} s after MiB`, split(flood.after), ""],
    [`flood: RSS ${AFTER_S} s after / before`, flood.ratio.toFixed(2), "< 2"],
    [
      `flood: ${AFTER_S} s after, smaps Anonymous / V8 heap total / external MiB`,
      `${mib(flood.smapsAfter.Anonymous ?? NaN)} / ${mib(flood.v8After.heapTotal ?? NaN)} / ${mib(flood.v8After.external ?? NaN)}`,
      "",
    ],
  ];
}
