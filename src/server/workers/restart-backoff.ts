/** First delay before a dead worker is restarted. */
export const RESTART_MIN_DELAY_MS = 500;
/** The delay doubles per quick exit up to this bound. */
export const RESTART_MAX_DELAY_MS = 30_000;
/** A worker that ran this long before dying counts as healthy: the backoff starts over. */
export const STABLE_RUN_MS = 30_000;

export interface RestartPlan {
  readonly delayMs: number;
  /** The quick-exit count to carry to the worker's next death. */
  readonly quickExits: number;
}

/**
 * When to restart a worker that died after running `ranMs`, `quickExits` earlier deaths of its
 * slot having each come soon after a start: 0.5 s, doubling per quick exit, at most 30 s; a
 * worker that had run 30 s and `listened` starts over at 0.5 s. One that never listened (it
 * crashed or was killed while starting, however long that took) is a quick exit. A worker
 * crashing at once is thus retried forever, but at most twice a minute.
 */
export function planRestart(quickExits: number, ranMs: number, listened: boolean): RestartPlan {
  const exits = listened && ranMs >= STABLE_RUN_MS ? 0 : quickExits;
  return {
    delayMs: Math.min(RESTART_MAX_DELAY_MS, RESTART_MIN_DELAY_MS * 2 ** exits),
    quickExits: exits + 1,
  };
}
