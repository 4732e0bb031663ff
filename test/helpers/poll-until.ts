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
