import { execFile, spawn } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/** Requests/s and latency percentiles of one load run. */
export interface LoadResult {
  readonly rps: number;
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
  readonly errors: number;
}

export interface Target {
  /** Base URL without a path, e.g. `https://127.0.0.1:8443`. */
  readonly url: string;
  /** Host header and TLS server name. */
  readonly host: string;
}

/** wrk (HTTP/1.1, keep-alive), 2 threads: closed-loop load at `connections`. */
export async function wrk(
  target: Target,
  path: string,
  connections: number,
  durationS: number,
): Promise<LoadResult> {
  const { stdout } = await run(
    "wrk",
    [
      "-t2",
      `-c${connections}`,
      `-d${durationS}s`,
      "--latency",
      "-H",
      `Host: ${target.host}`,
      target.url + path,
    ],
    { maxBuffer: 1 << 20 },
  );
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1] ?? NaN);
  const errors = /Non-2xx or 3xx responses: (\d+)/.exec(stdout)?.[1];
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(stdout);
  return {
    rps,
    p50Ms: wrkLatencyMs(stdout, "50%"),
    p99Ms: wrkLatencyMs(stdout, "99%"),
    errors:
      Number(errors ?? 0) + (socketErrors ? socketErrors.slice(1).reduce((a, b) => a + Number(b), 0) : 0),
  };
}

function wrkLatencyMs(output: string, percentile: string): number | null {
  const match = new RegExp(`^\\s+${percentile}\\s+([\\d.]+)(us|ms|s)\\s*$`, "m").exec(output);
  if (!match) return null;
  const value = Number(match[1]);
  return match[2] === "us" ? value / 1000 : match[2] === "s" ? value * 1000 : value;
}

/** Runs bench/load-generator.ts in its own process. */
export async function generator(
  mode: "closed" | "rate" | "poll",
  options: Record<string, unknown>,
): Promise<LoadResult & { ok: number; sent: number; elapsedMs: number }> {
  const script = join(import.meta.dirname, "load-generator.ts");
  const { stdout } = await run(process.execPath, ["--import", "tsx", script, mode, JSON.stringify(options)], {
    maxBuffer: 1 << 20,
    timeout: 600_000,
  });
  return JSON.parse(stdout.trim().split("\n").at(-1) ?? "{}") as LoadResult & {
    ok: number;
    sent: number;
    elapsedMs: number;
  };
}

/** Downloads `parallel` copies of `path` with curl at once; MiB/s of all bytes over the wall time. */
export async function downloads(
  target: Target,
  path: string,
  parallel: number,
  protocol: "h1" | "h2",
): Promise<{ mibPerS: number; bytes: number; failures: number }> {
  const url = new URL(path, target.url);
  const args = ["-s", "-k", "-o", "/dev/null", "-w", "%{http_code} %{size_download}\\n"];
  if (url.protocol === "https:") {
    args.push(
      protocol === "h2" ? "--http2" : "--http1.1",
      "--resolve",
      `${target.host}:${url.port}:127.0.0.1`,
    );
    url.hostname = target.host;
  } else {
    args.push("-H", `Host: ${target.host}`);
  }
  const started = performance.now();
  const outputs = await Promise.all(Array.from({ length: parallel }, () => curl([...args, url.toString()])));
  const seconds = (performance.now() - started) / 1000;
  let bytes = 0;
  let failures = 0;
  for (const output of outputs) {
    const [code, size] = output.trim().split(" ");
    if (code === "200") bytes += Number(size);
    else failures++;
  }
  return { mibPerS: bytes / 1024 / 1024 / seconds, bytes, failures };
}

function curl(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn("curl", args, { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (out += chunk));
    child.once("error", reject);
    child.once("close", () => resolve(out));
  });
}

export function median(values: readonly number[]): number {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}
