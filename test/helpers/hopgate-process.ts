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
  /** Resolves with the output so far once `matches` holds for it (waiting up to `timeoutMs`). */
  waitForOutput(matches: (output: string) => boolean, timeoutMs?: number): Promise<string>;
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

export interface SpawnOptions {
  /**
   * Run it with a pseudo-terminal as stdout, as a person at a terminal does: under util-linux
   * `script`, whose output (the terminal's, with CR LF line ends) becomes `output()`. `child` is
   * then `script`; the HopGate process is killed too when the test ends.
   */
  readonly terminal?: boolean;
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
  options: SpawnOptions = {},
): HopgateProcess {
  const argv = [process.execPath, ...HOPGATE_NODE_FLAGS, COMPILED_CLI, ...args];
  const child = options.terminal
    ? spawn("script", ["-qfec", `exec ${argv.map(shellQuoted).join(" ")}`, "/dev/null"], {
        env: cleanEnv(env),
        stdio: ["ignore", "pipe", "pipe"],
      })
    : spawn(argv[0] as string, argv.slice(1), { env: cleanEnv(env), stdio: ["ignore", "pipe", "pipe"] });
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
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
    stderr += chunk;
    for (const wake of waiters) wake();
  });
  const exited = new Promise<number | string>((resolve) =>
    child.once("exit", (code, signal) => {
      for (const wake of waiters) wake();
      resolve(code ?? signal ?? -1);
    }),
  );
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) {
      // Under `script` the HopGate process leads its own session: kill it by its pid.
      if (options.terminal) for (const pid of childPids(child.pid)) killQuietly(pid);
      child.kill("SIGKILL");
    }
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
    waitForOutput(matches, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const output = stdout + stderr;
          if (matches(output)) {
            cleanup();
            resolve(output);
          } else if (child.exitCode !== null || child.signalCode !== null) {
            cleanup();
            reject(new Error(`hopgate ${args[0]} exited before the awaited output: ${output.slice(-2000)}`));
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(
            new Error(
              `hopgate ${args[0]}: not the awaited output within ${timeoutMs} ms: ${(stdout + stderr).slice(-2000)}`,
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

function shellQuoted(word: string): string {
  return `'${word.replace(/'/g, "'\\''")}'`;
}

function childPids(pid: number | undefined): number[] {
  try {
    const text = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8");
    return text.split(" ").filter(Boolean).map(Number);
  } catch {
    return []; // already gone
  }
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    // already gone
  }
}
