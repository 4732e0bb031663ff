import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { removeOnStop, startProcess } from "./processes.js";
import { measureIdleTunnels } from "./scale.js";
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
  const dir = removeOnStop(mkdtempSync(join(tmpdir(), "hopgate-bench-memory-")));
  writeCerts(dir);
  const server = startProcess("server", process.execPath, serverArgs(cli, nodeFlags, dir, "127.0.0.1:0"), {
    HOP_ADMIN_API_KEY: ADMIN_KEY,
  });
  try {
    const listening = await server.waitForLine((l) => l.msg === "HopGate server listening");
    await sleep(3000);
    const idle = rssSplit(server.child.pid ?? 0);
    const httpsPort = Number(listening.https_port);
    const clientKey = await register(httpsPort);
    const afterAdmin = rssSplit(server.child.pid ?? 0);
    const idleTunnels = await measureIdleTunnels({ server, httpsPort, clientKey }, tunnels);
    return { idle, afterAdmin, idleTunnels };
  } finally {
    await server.stop();
  }
}
