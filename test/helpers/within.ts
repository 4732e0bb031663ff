/**
 * Wide default deadline for one awaited step of a test: a broken feature fails the step with a
 * message naming it instead of hanging until the suite's 300 s timeout; working code needs a
 * fraction of it, also on a busy 2-core machine.
 */
export const STEP_DEADLINE_MS = 30_000;

/** `promise`, or a rejection "timed out waiting for <what>" after `deadlineMs`. */
export function within<T>(promise: Promise<T>, what: string, deadlineMs = STEP_DEADLINE_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(
      () => reject(new Error(`timed out waiting for ${what} (${deadlineMs} ms)`)),
      deadlineMs,
    );
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}
