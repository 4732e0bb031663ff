import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { plainScriptArgs } from "./plain-script.js";
import { removeOnStop, startProcess, type BenchProcess } from "./processes.js";
import { measureHeldConnections, measureIdleTunnels } from "./scale.js";
import { ADMIN_KEY, register, serverArgs, writeCerts } from "./stack.js";

const MiB = 1024 * 1024;

/** Resident memory of a process (/proc/PID/status), split as the kernel counts it. */
export interface RssSplit {
  readonly rssMiB: number;
  /** Private memory: V8 heaps, malloc, stacks. */
  readonly anonMiB: number;
  /** Pages of mapped files, mostly the node binary's code and data (shared with every node process). */
  readonly fileMiB: number;
}

export function rssSplit(pid: number): RssSplit {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const field = (name: string) =>
    (Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(status)?.[1] ?? NaN) * 1024) / MiB;
  return { rssMiB: field("VmRSS"), anonMiB: field("RssAnon"), fileMiB: field("RssFile") };
}

export type FreshServer = Awaited<ReturnType<typeof measureFreshServer>>;

/**
 * One fresh server (the compiled CLI `cli` with `nodeFlags`, embedded store, certificate files,
 * no traffic before): its RSS 3 s after it listens (`idle`), its RSS once one domain has been
 * registered through the admin API (`afterAdmin`, which loads the API), then the RSS per tunnel
 * that `tunnels` idle tunnels add.
 */
export async function measureFreshServer(cli: string, nodeFlags: readonly string[], tunnels: number) {
  const dir = certificateDir();
  const server = startProcess("server", process.execPath, serverArgs(cli, nodeFlags, dir, "127.0.0.1:0"), {
    HOP_ADMIN_API_KEY: ADMIN_KEY,
  });
  try {
    const { listening, idle } = await idleAfterListening(server, (l) => l.msg === "HopGate server listening");
    const httpsPort = Number(listening.https_port);
    const clientKey = await register(httpsPort);
    const afterAdmin = rssSplit(server.child.pid ?? 0);
    const idleTunnels = await measureIdleTunnels({ server, httpsPort, clientKey }, tunnels);
    return { idle, afterAdmin, idleTunnels };
  } finally {
    await server.stop();
  }
}

export type PlainH2Server = Awaited<ReturnType<typeof measurePlainH2Server>>;

/**
 * The reference for measureFreshServer(): a fresh plain Node.js HTTP/2 TLS server
 * (bench/plain-h2-server.ts with `nodeFlags`, the same certificate), measured the same way: its
 * RSS 3 s after it listens (`idle`), then the RSS per connection that `connections` idle HTTP/2
 * connections add, each holding one open stream (bench/idle-h2-streams.ts), as a tunnel does.
 */
export async function measurePlainH2Server(nodeFlags: readonly string[], connections: number) {
  const dir = certificateDir();
  const server = startProcess(
    "plain h2 server",
    process.execPath,
    plainScriptArgs("plain-h2-server", dir, nodeFlags, [dir]),
  );
  try {
    const { listening, idle } = await idleAfterListening(server, (l) => typeof l.port === "number");
    const idleStreams = await measureHeldConnections(server, "idle-h2-streams", {
      url: `https://127.0.0.1:${Number(listening.port)}`,
      count: connections,
    });
    return { idle, idleStreams };
  } finally {
    await server.stop();
  }
}

/** A temporary directory with writeCerts() in it, removed by stopAll(). */
function certificateDir(): string {
  const dir = removeOnStop(mkdtempSync(join(tmpdir(), "hopgate-bench-memory-")));
  writeCerts(dir);
  return dir;
}

/** Waits for the line `listening` matches, then 3 s more: the RSS of `server` then. */
async function idleAfterListening(
  server: BenchProcess,
  listening: (line: Record<string, unknown>) => boolean,
): Promise<{ listening: Record<string, unknown>; idle: RssSplit }> {
  const line = await server.waitForLine(listening);
  await sleep(3000);
  return { listening: line, idle: rssSplit(server.child.pid ?? 0) };
}
