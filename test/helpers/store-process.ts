import { spawn, type ChildProcessByStdio } from "node:child_process";
import { join } from "node:path";
import type { Readable, Writable } from "node:stream";
import type { StoreLocation } from "./store-backends.js";

const SCRIPT = join(import.meta.dirname, "../store/fixtures/store-process.ts");

export interface StoreProcess {
  readonly child: ChildProcessByStdio<Writable, Readable, Readable>;
  /** Every JSON line the process printed, as they arrive. */
  readonly lines: AsyncIterator<Record<string, unknown>>;
  /** Resolves with the exit code and stderr once the process ends. */
  readonly exited: Promise<{ code: number | null; stderr: string }>;
}

/** Starts test/store/fixtures/store-process.ts in its own Node process (see that file). */
export function startStoreProcess(location: StoreLocation, args: string[]): StoreProcess {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", SCRIPT, location.dataDir, location.dsn ?? "-", ...args],
    { stdio: ["pipe", "pipe", "pipe"], timeout: 60_000 },
  );
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const exited = new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stderr }));
  });
  return { child, lines: jsonLines(child.stdout), exited };
}

/** Runs one store command to completion and returns its JSON result. */
export async function runStoreProcess(
  location: StoreLocation,
  args: string[],
): Promise<Record<string, unknown>> {
  const process = startStoreProcess(location, args);
  process.child.stdin.end();
  const first = await process.lines.next();
  const { code, stderr } = await process.exited;
  if (code !== 0 || first.done) {
    throw new Error(
      `store process ${args.join(" ")} failed (${code}): ${JSON.stringify(first.value)} ${stderr}`,
    );
  }
  return first.value;
}

async function* jsonLines(stream: Readable): AsyncGenerator<Record<string, unknown>> {
  let buffered = "";
  for await (const chunk of stream.setEncoding("utf8") as AsyncIterable<string>) {
    buffered += chunk;
    let newline: number;
    while ((newline = buffered.indexOf("\n")) !== -1) {
      yield JSON.parse(buffered.slice(0, newline)) as Record<string, unknown>;
      buffered = buffered.slice(newline + 1);
    }
  }
}
