import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import type { TestContext } from "node:test";
import { HOPGATE_NODE_FLAGS } from "../../src/lib/node-flags.js";
import { cleanEnv, COMPILED_CLI } from "./run-cli.js";

export interface HopgateProcess {
  readonly child: ChildProcess;
  /** Every JSON log line so far. */
  readonly lines: Array<Record<string, unknown>>;
  /** Everything written to stdout and stderr so far, as it came. */
  output(): string;
  /** Resolves with the first log line matching `predicate` (waiting up to `timeoutMs`). */
  waitForLine(
    predicate: (line: Record<string, unknown>) => boolean,
    timeoutMs?: number,
  ): Promise<Record<string, unknown>>;
  /** Resident set size in bytes, from /proc. */
  rssBytes(): number;
  /** Resolves with the exit code (or signal name) once the process has exited. */
  readonly exited: Promise<number | string>;
}

/**
 * `hopgate <args>` as a real child process running the compiled CLI with the product's V8 flags
 * (JSON logs on stdout),
 * killed with SIGKILL when the test ends if it is still running.
 */
export function spawnHopgate(
  t: TestContext,
  args: string[],
  env: Record<string, string> = {},
): HopgateProcess {
  const child = spawn(process.execPath, [...HOPGATE_NODE_FLAGS, COMPILED_CLI, ...args], {
    env: cleanEnv(env),
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: Array<Record<string, unknown>> = [];
  const waiters = new Set<() => void>();
  let buffered = "";
  let stdout = "";
  let stderr = "";
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
    stdout += chunk;
    buffered += chunk;
    let newline: number;
    while ((newline = buffered.indexOf("\n")) !== -1) {
      const text = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      try {
        lines.push(JSON.parse(text) as Record<string, unknown>);
      } catch {
        lines.push({ unparsed: text });
      }
    }
    for (const wake of waiters) wake();
  });
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | string>((resolve) =>
    child.once("exit", (code, signal) => {
      for (const wake of waiters) wake();
      resolve(code ?? signal ?? -1);
    }),
  );
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    return exited;
  });
  return {
    child,
    lines,
    output: () => stdout + stderr,
    exited,
    rssBytes: () => {
      const status = readFileSync(`/proc/${child.pid}/status`, "utf8");
      return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? NaN) * 1024;
    },
    waitForLine(predicate, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = lines.find(predicate);
          if (found) {
            cleanup();
            resolve(found);
          } else if (child.exitCode !== null || child.signalCode !== null) {
            cleanup();
            reject(
              new Error(
                `hopgate ${args[0]} exited (${child.exitCode ?? child.signalCode}): ${stderr.slice(-2000)}`,
              ),
            );
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(
            new Error(
              `hopgate ${args[0]}: no matching log line within ${timeoutMs} ms; stderr: ${stderr.slice(-2000)}`,
            ),
          );
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
  };
}
