import { availableParallelism } from "node:os";

/** Most workers `--workers` accepts, `auto` included. */
export const MAX_WORKERS = 256;

/** `--workers`: a number as given, or `auto`: one per core this process may use (at most 256). */
export function resolveWorkerCount(setting: number | "auto", cores = availableParallelism()): number {
  return setting === "auto" ? Math.max(1, Math.min(MAX_WORKERS, cores)) : setting;
}
