// The server's memory allocator: `hopgate server` and `hopgate demo` re-execute themselves once
// with jemalloc preloaded when the host has it, because glibc's malloc keeps most of a
// connection flood's freed memory (docs/performance.md, "Connection flood"). The container image
// and the systemd unit preload it themselves; this covers the npm package and the single file.
import { existsSync } from "node:fs";
import process from "node:process";
import { isSea } from "node:sea";

/** The jemalloc settings the image, the unit and this launcher use: return freed pages within ~1 s. */
export const JEMALLOC_CONF = "background_thread:true,dirty_decay_ms:250,muzzy_decay_ms:0";

/**
 * Where Debian, Ubuntu, Fedora and Alpine put jemalloc's shared library for this process's
 * architecture. A library of another architecture must never be named: preloading it fails, and
 * a failed execve ends the process.
 */
const MULTIARCH: Partial<Record<NodeJS.Architecture, string>> = {
  x64: "x86_64-linux-gnu",
  arm64: "aarch64-linux-gnu",
};
function jemallocPaths(arch: NodeJS.Architecture): string[] {
  const multiarch = MULTIARCH[arch];
  if (multiarch === undefined) return [];
  const lib64 = arch === "x64" ? ["/usr/lib64/libjemalloc.so.2"] : [];
  return [`/usr/lib/${multiarch}/libjemalloc.so.2`, ...lib64];
}

/** Commands that run a public edge and so can meet a connection flood. */
const SERVER_COMMANDS = new Set(["server", "demo"]);

/**
 * `HOPGATE_ALLOCATOR`: `auto` (default) preloads jemalloc for the server commands when found,
 * `system` keeps the C library's malloc. The launcher sets `jemalloc` in the re-executed process,
 * which also stops a second re-execution.
 */
export type AllocatorChoice = "auto" | "system" | "jemalloc";

/** The library to preload for this invocation, or undefined to run as is. Pure, for tests. */
export function jemallocToPreload(
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  exists: (path: string) => boolean = existsSync,
  arch: NodeJS.Architecture = process.arch,
): string | undefined {
  const choice = env.HOPGATE_ALLOCATOR ?? "auto";
  if (choice !== "auto") return undefined;
  if ((env.LD_PRELOAD ?? "").includes("jemalloc")) return undefined;
  if (process.platform !== "linux") return undefined;
  const command = args.find((arg) => !arg.startsWith("-"));
  if (command === undefined || !SERVER_COMMANDS.has(command)) return undefined;
  return jemallocPaths(arch).find((path) => exists(path));
}

/**
 * Replaces this process (same PID, so supervisors and signals are unaffected) with one that has
 * jemalloc preloaded, when `jemallocToPreload` says so; returns otherwise. `args` are the
 * command's own arguments (after the script or the single file).
 */
export function reexecWithJemalloc(args: readonly string[]): void {
  const library = jemallocToPreload(args, process.env);
  if (library === undefined) return;
  const preload = [library, process.env.LD_PRELOAD].filter(Boolean).join(":");
  const env = {
    ...process.env,
    LD_PRELOAD: preload,
    MALLOC_CONF: process.env.MALLOC_CONF ?? JEMALLOC_CONF,
    HOPGATE_ALLOCATOR: "jemalloc",
  };
  // A single executable applies its own V8 flags (the SEA's execArgv) and takes only the
  // command's arguments; a script run by node needs node's flags and the script path again.
  const argv = isSea()
    ? [process.execPath, ...args]
    : [process.execPath, ...process.execArgv, process.argv[1] ?? "", ...args];
  process.execve?.(process.execPath, argv, env);
}
