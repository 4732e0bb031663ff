import { HopGateError } from "../lib/hopgate-error.js";

/** The setting that bounds a start (src/config/server-settings.ts). */
const SETTING = "HOP_SERVER_START_TIMEOUT_SECONDS";

export interface StartDeadline {
  /** Resolves with "late" once the deadline passed; never rejects. */
  readonly passed: Promise<"late">;
  /** The error a start past the deadline ends with ("timeout"), `detail` saying what was not ready. */
  error(detail: string): HopGateError;
  /** Stops the timer (the start finished in time, or failed first). */
  clear(): void;
}

/**
 * The deadline of `hopgate server`'s start, counted from this call: a store that accepts a
 * connection and never answers, or a worker stopped or stuck before it listens, ends the start
 * with a clear error instead of a silent wait.
 */
export function startDeadline(timeoutSeconds: number): StartDeadline {
  let timer: NodeJS.Timeout | undefined;
  const passed = new Promise<"late">(
    (resolve) => (timer = setTimeout(() => resolve("late"), timeoutSeconds * 1000)),
  );
  return {
    passed,
    error: (detail) =>
      new HopGateError("timeout", `not ready within ${timeoutSeconds} s (${SETTING}): ${detail}`),
    clear: () => clearTimeout(timer),
  };
}

/** How far a start got, for the deadline's error: the last step it reported done. */
export function stepReport(lastStep: string | undefined): string {
  return lastStep === undefined ? "no start step done" : `last start step done: ${lastStep}`;
}

/**
 * `start`'s result, or the deadline's error once it passed first; a start that finishes after
 * its deadline is handed to `onLate` (to stop what it started).
 */
export async function beforeDeadline<T>(
  start: Promise<T>,
  deadline: StartDeadline,
  detail: () => string,
  onLate: (late: T) => unknown,
): Promise<T> {
  const first = await Promise.race([start, deadline.passed]);
  if (first !== "late") return first;
  // Its failure was the start's, already reported as the deadline's error; the process is ending.
  start.then(onLate).catch(() => {});
  throw deadline.error(detail());
}
