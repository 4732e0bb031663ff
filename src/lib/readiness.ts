/**
 * Readiness for `/readyz`: a list of named checks (store reachable, listeners bound, ...) that the
 * composition root supplies. A check passes by returning and fails by throwing; each runs with a
 * deadline so that a hung dependency makes the probe fail instead of hang.
 */

export interface ReadinessCheck {
  /** Short stable name shown in the `/readyz` body, e.g. `store` or `https_listener`. */
  readonly name: string;
  readonly check: () => void | Promise<void>;
}

export interface ReadinessResult {
  readonly name: string;
  readonly ok: boolean;
  /** Why the check failed (the thrown error's message, shortened); absent when it passed. */
  readonly error?: string;
}

export interface ReadinessReport {
  readonly ready: boolean;
  readonly checks: readonly ReadinessResult[];
}

export interface ReadinessProbeOptions {
  readonly checks: readonly ReadinessCheck[];
  /** Longest wait for one check; default 2000 ms. */
  readonly checkTimeoutMs?: number;
}

const MAX_ERROR_CHARS = 200;

/** Runs every check concurrently; ready when all pass (and when there are none). */
export function createReadinessProbe(options: ReadinessProbeOptions): () => Promise<ReadinessReport> {
  const timeoutMs = options.checkTimeoutMs ?? 2000;
  return async () => {
    const checks = await Promise.all(options.checks.map((check) => runCheck(check, timeoutMs)));
    return { ready: checks.every((check) => check.ok), checks };
  };
}

async function runCheck(check: ReadinessCheck, timeoutMs: number): Promise<ReadinessResult> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    await Promise.race([Promise.resolve().then(check.check), deadline]);
    return { name: check.name, ok: true };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return { name: check.name, ok: false, error: message.slice(0, MAX_ERROR_CHARS) };
  } finally {
    clearTimeout(timer);
  }
}
