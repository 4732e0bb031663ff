/** Polls `condition` every `intervalMs` until it holds; rejects with `describe()` after `timeoutMs`. */
export async function pollUntil(
  condition: () => boolean | Promise<boolean>,
  timeoutMs: number,
  describe: () => string,
  intervalMs = 20,
): Promise<number> {
  const startedAtMs = Date.now();
  for (;;) {
    if (await condition()) return Date.now();
    if (Date.now() - startedAtMs > timeoutMs) throw new Error(describe());
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** pollUntil() for a condition named `what`: fails with "timed out waiting for <what>" after `timeoutMs`. */
export async function until(
  condition: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 10_000,
): Promise<void> {
  await pollUntil(condition, timeoutMs, () => `timed out waiting for ${what}`);
}
