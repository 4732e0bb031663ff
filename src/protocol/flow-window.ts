/**
 * Per-stream credit, like HTTP/2 flow control (RFC 9113 §5.2, §6.9) but per logical stream of
 * one tunnel: a sender may have at most `window` bytes of StreamData unacknowledged; the receiver
 * returns credit (StreamCredit) once it has handed bytes on. This is what keeps one slow visitor
 * from stalling or bloating every other stream on the tunnel (PROTOCOL.md v2 item 1).
 */

/** Largest window a peer may grant, as in HTTP/2 (2^31-1). */
export const MAX_WINDOW_BYTES = 0x7fffffff;

export class SendWindow {
  #available: number;
  #waiter: (() => void) | undefined;

  /** `Infinity` for v1 peers, which never return credit. */
  constructor(initialBytes: number) {
    this.#available = initialBytes;
  }

  get availableBytes(): number {
    return this.#available;
  }

  /** Spends credit for `bytes` just sent (may go to zero, never below). */
  consume(bytes: number): void {
    this.#available -= bytes;
  }

  /** Adds credit from the peer; false when the window would overflow (a protocol violation). */
  grant(bytes: number): boolean {
    if (this.#available + bytes > MAX_WINDOW_BYTES) return false;
    this.#available += bytes;
    if (this.#available > 0) this.#wake();
    return true;
  }

  /** Resolves when there is credit to send, or when `release()` was called (closed stream). */
  whenOpen(): Promise<void> {
    if (this.#available > 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.#waiter = resolve;
    });
  }

  /** Wakes a waiting sender without credit, so that it can notice the stream is gone. */
  release(): void {
    this.#wake();
  }

  #wake(): void {
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.();
  }
}

export class ReceiveWindow {
  readonly #windowBytes: number;
  #outstanding = 0;
  #consumedUnacked = 0;

  constructor(windowBytes: number) {
    this.#windowBytes = windowBytes;
  }

  /** Records bytes that arrived; false when the sender overran the window it was given. */
  received(bytes: number): boolean {
    this.#outstanding += bytes;
    return this.#outstanding <= this.#windowBytes;
  }

  /**
   * Records bytes handed on to their destination; returns the credit to send back now (0 to
   * wait). Credit goes back in quarter-window steps so that a stream costs few credit frames.
   */
  consumed(bytes: number): number {
    this.#outstanding -= bytes;
    this.#consumedUnacked += bytes;
    if (this.#consumedUnacked < this.#windowBytes / 4) return 0;
    const credit = this.#consumedUnacked;
    this.#consumedUnacked = 0;
    return credit;
  }
}
