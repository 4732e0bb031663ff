import { readdirSync, readFileSync } from "node:fs";
import { cpus } from "node:os";

/**
 * Cores that processes outside the benchmark kept busy while `work` ran: the machine's busy time
 * (/proc/stat) less that of the benchmark's own processes: this one and `pids` (backend, server,
 * client, nginx), with their running descendants (nginx's worker) and the children this one has
 * reaped by then (wrk, curl, the load generator).
 * On a shared machine it tells which rounds other work disturbed (docs/performance.md).
 */
export async function withOtherLoad<T>(
  pids: readonly number[],
  work: () => Promise<T>,
): Promise<{ result: T; otherCores: number }> {
  const machineBefore = machineTicks();
  const ownBefore = ownTicks(pids);
  const result = await work();
  const machineAfter = machineTicks();
  const elapsed = machineAfter.total - machineBefore.total;
  const others = machineAfter.busy - machineBefore.busy - (ownTicks(pids) - ownBefore);
  return { result, otherCores: elapsed > 0 ? Math.max(0, (others / elapsed) * cpus().length) : NaN };
}

/**
 * CPU seconds that `pids`, with their running descendants (nginx's workers), spent while `work`
 * ran: what the processes between the load tool and the backend cost (docs/performance.md).
 */
export async function withCpuSeconds<T>(
  pids: readonly number[],
  work: () => Promise<T>,
): Promise<{ result: T; cpuSeconds: number }> {
  const before = treeTicks(pids);
  const result = await work();
  return { result, cpuSeconds: (treeTicks(pids) - before) / TICKS_PER_SECOND };
}

/** CPU seconds `pid` alone has used so far (user + system); NaN once it is gone. */
export function cpuSecondsOf(pid: number): number {
  const stat = processStat(pid);
  return stat ? stat.ticks / TICKS_PER_SECOND : NaN;
}

/** USER_HZ: /proc counts CPU time in hundredths of a second on Linux. */
const TICKS_PER_SECOND = 100;

/** Busy and total CPU time of all cores, in clock ticks. */
function machineTicks(): { busy: number; total: number } {
  const fields = (readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "")
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number);
  const total = fields.reduce((sum, ticks) => sum + ticks, 0);
  const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
  return { busy: total - idle, total };
}

/** CPU time of this process with its reaped children, and of `pids` and every running descendant. */
function ownTicks(pids: readonly number[]): number {
  const processes = allProcesses();
  let ticks = processes.get(process.pid)?.reapedChildrenTicks ?? 0;
  for (const pid of withDescendants([process.pid, ...pids], processes))
    ticks += processes.get(pid)?.ticks ?? 0;
  return ticks;
}

/** CPU time of `pids` and every running descendant, in clock ticks. */
function treeTicks(pids: readonly number[]): number {
  const processes = allProcesses();
  let ticks = 0;
  for (const pid of withDescendants(pids, processes)) ticks += processes.get(pid)?.ticks ?? 0;
  return ticks;
}

function allProcesses(): Map<number, ProcessStat> {
  const processes = new Map<number, ProcessStat>();
  for (const entry of readdirSync("/proc")) {
    const stat = /^\d+$/.test(entry) ? processStat(Number(entry)) : undefined;
    if (stat) processes.set(Number(entry), stat);
  }
  return processes;
}

function withDescendants(pids: readonly number[], processes: Map<number, ProcessStat>): Set<number> {
  const tree = new Set(pids);
  // /proc lists parents and children in no guaranteed order: repeat until no process joins.
  for (let size = 0; size !== tree.size;) {
    size = tree.size;
    for (const [pid, stat] of processes) if (tree.has(stat.parent)) tree.add(pid);
  }
  return tree;
}

interface ProcessStat {
  readonly parent: number;
  /** utime + stime, in clock ticks. */
  readonly ticks: number;
  /** cutime + cstime: of the children it has waited for. */
  readonly reapedChildrenTicks: number;
}

/** From /proc/PID/stat; undefined once the process is gone. */
function processStat(pid: number): ProcessStat | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The fields after the command name (which may hold spaces and parentheses): state, ppid, …
    const fields = stat
      .slice(stat.lastIndexOf(")") + 2)
      .split(" ")
      .map(Number);
    return {
      parent: fields[1] ?? 0,
      ticks: (fields[11] ?? 0) + (fields[12] ?? 0),
      reapedChildrenTicks: (fields[13] ?? 0) + (fields[14] ?? 0),
    };
  } catch {
    return undefined;
  }
}
