import type { Logger } from "../../lib/logger.js";

export interface ViolationLogOptions {
  readonly logger: Logger;
  /** Fields on every line, e.g. `{ session_id, domain }`. */
  readonly fields: Readonly<Record<string, unknown>>;
  /** Violation lines written per window; the rest are only counted. */
  readonly maxLinesPerWindow: number;
  readonly windowMs: number;
}

/** Defaults of a tunnel session: enough to diagnose a broken client, too few to flood the log. */
export const VIOLATION_LOG_LIMITS = { maxLinesPerWindow: 20, windowMs: 60_000 } as const;

/**
 * The protocol violations of one tunnel session, logged with a bound: at most
 * `maxLinesPerWindow` `tunnel protocol violation` lines per window (a window starts at the
 * first violation after the previous one ended), then one `tunnel protocol violations not
 * logged` line with the count of the others when the window ends or the session closes. A
 * hostile client writes a few lines a minute however many violations it sends.
 */
export class ViolationLog {
  readonly #options: ViolationLogOptions;
  /** `options.logger` with `options.fields` bound, made at the first line (most sessions write none). */
  #logger: Logger | undefined;
  #windowEndMs = 0;
  #lines = 0;
  #unlogged = 0;
  #summaryTimer: NodeJS.Timeout | undefined;

  constructor(options: ViolationLogOptions) {
    this.#options = options;
  }

  get #log(): Logger {
    return (this.#logger ??= this.#options.logger.child(this.#options.fields));
  }

  report(detail: string, streamId: string | undefined): void {
    const now = Date.now();
    if (now >= this.#windowEndMs) {
      this.#summarize();
      this.#windowEndMs = now + this.#options.windowMs;
      this.#lines = 0;
    }
    if (this.#lines < this.#options.maxLinesPerWindow) {
      this.#lines++;
      this.#log.warn({ stream_id: streamId, detail }, "tunnel protocol violation");
      return;
    }
    this.#unlogged++;
    this.#summaryTimer ??= setTimeout(() => {
      this.#summarize();
      this.#windowEndMs = 0;
    }, this.#windowEndMs - now).unref();
  }

  /** The session ended: the count of what was not logged is written now, not at the window's end. */
  close(): void {
    this.#summarize();
  }

  #summarize(): void {
    clearTimeout(this.#summaryTimer);
    this.#summaryTimer = undefined;
    if (this.#unlogged === 0) return;
    this.#log.warn(
      {
        violations: this.#unlogged,
        max_lines_per_window: this.#options.maxLinesPerWindow,
        window_seconds: this.#options.windowMs / 1000,
      },
      "tunnel protocol violations not logged",
    );
    this.#unlogged = 0;
  }
}
