import { spawn } from "node:child_process";
import { join } from "node:path";
import { HOPGATE_NODE_FLAGS } from "../../src/lib/node-flags.js";

/** The `hopgate` command as users run it (bin/hopgate.js, which runs the compiled bundle). */
export const CLI = join(import.meta.dirname, "../../bin/hopgate.js");
/**
 * The compiled CLI (`npm run build`, run by `npm test` first): what container images run, and
 * what tests that measure memory or start many processes use.
 */
export const COMPILED_CLI = join(import.meta.dirname, "../../dist/cli/main.js");

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `hopgate <args>` to completion on the current Node binary, with the product's V8 flags. */
export function runCli(
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...HOPGATE_NODE_FLAGS, CLI, ...args], {
      cwd: options.cwd,
      env: options.env ?? cleanEnv(),
      stdio: ["ignore", "pipe", "pipe"],
      timeout: options.timeoutMs ?? 30_000,
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** The test process's environment without any HOP_* variable, so tests see only what they set. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith("HOP_")) env[key] = value;
  return { ...env, ...extra };
}
