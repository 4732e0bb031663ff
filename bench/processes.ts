import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";

export interface BenchProcess {
  readonly name: string;
  readonly child: ChildProcess;
  /** Resolves with the first JSON stdout line matching `predicate`. */
  waitForLine(
    predicate: (line: Record<string, unknown>) => boolean,
    timeoutMs?: number,
  ): Promise<Record<string, unknown>>;
  /** Resident set size in bytes (/proc), 0 once the process is gone. */
  rssBytes(): number;
  stop(): Promise<void>;
}

const running = new Set<BenchProcess>();
const temporaryDirs = new Set<string>();

/** A temporary directory that stopAll() removes once the processes using it are gone. */
export function removeOnStop(dir: string): string {
  temporaryDirs.add(dir);
  return dir;
}

/** Kills every process still running and removes the temporary directories (also on failure). */
export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((p) => p.stop()));
  for (const dir of temporaryDirs) rmSync(dir, { recursive: true, force: true });
  temporaryDirs.clear();
}

/** Spawns `command args` with JSON lines on stdout; stderr is kept for error messages. */
export function startProcess(
  name: string,
  command: string,
  args: readonly string[],
  env: Record<string, string> = {},
): BenchProcess {
  const child = spawn(command, args, {
    env: { ...withoutHop(process.env), ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: Array<Record<string, unknown>> = [];
  const waiters = new Set<() => void>();
  let buffered = "";
  let stderr = "";
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
    buffered += chunk;
    let newline: number;
    while ((newline = buffered.indexOf("\n")) !== -1) {
      const text = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      if (!text.startsWith("{")) continue;
      try {
        const line = JSON.parse(text) as Record<string, unknown>;
        // Access log lines are not kept: a benchmark produces millions.
        if (line.msg !== "request" && line.request_id === undefined) lines.push(line);
        if (process.env.BENCH_DEBUG) process.stderr.write(`${name}: ${text}\n`);
      } catch {
        // not JSON: ignored
      }
    }
    for (const wake of waiters) wake();
  });
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => (stderr = (stderr + chunk).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const process_: BenchProcess = {
    name,
    child,
    rssBytes() {
      try {
        const status = readFileSync(`/proc/${child.pid}/status`, "utf8");
        return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
      } catch {
        return 0;
      }
    },
    waitForLine(predicate, timeoutMs = 60_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = lines.find(predicate);
          if (found) {
            done();
            resolve(found);
          } else if (child.exitCode !== null || child.signalCode !== null) {
            done();
            reject(new Error(`${name} exited: ${stderr}`));
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`${name}: no expected output within ${timeoutMs} ms; stderr: ${stderr}`));
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        child.once("exit", check);
        check();
      });
    },
    async stop() {
      running.delete(process_);
      if (child.exitCode !== null || child.signalCode !== null) return;
      // SIGTERM first: HopGate shuts down cleanly (and writes a --cpu-prof profile).
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
  running.add(process_);
  return process_;
}

function withoutHop(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(env))
    if (!key.startsWith("HOP_") && value !== undefined) out[key] = value;
  return out;
}

/** Samples the peak RSS of `processes` every 50 ms while `work` runs. */
export async function withPeakRss<T>(
  processes: readonly BenchProcess[],
  work: () => Promise<T>,
): Promise<{ result: T; peakBytes: number[] }> {
  const peakBytes = processes.map((p) => p.rssBytes());
  const timer = setInterval(() => {
    processes.forEach((p, i) => (peakBytes[i] = Math.max(peakBytes[i] ?? 0, p.rssBytes())));
  }, 50);
  try {
    return { result: await work(), peakBytes };
  } finally {
    clearInterval(timer);
  }
}
