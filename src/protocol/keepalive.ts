export interface KeepaliveOptions {
  readonly intervalMs: number;
  /** A ping unanswered this long means the peer is gone. */
  readonly timeoutMs: number;
  /** Sends a ping; the answer must reach `pong(nonce)`. */
  readonly sendPing: (nonce: bigint) => void;
  readonly onDead: () => void;
}

export interface Keepalive {
  pong(nonce: bigint): void;
  stop(): void;
}

/**
 * Liveness for one tunnel (PROTOCOL.md v2 item 5): a ping every `intervalMs`; if the answer to
 * the outstanding one does not arrive within `timeoutMs`, `onDead` runs once. Timers are unref'd
 * so that a keepalive never holds a process open.
 */
export function startKeepalive(options: KeepaliveOptions): Keepalive {
  let nonce = 0n;
  let outstanding: bigint | undefined;
  let deadline: NodeJS.Timeout | undefined;
  let stopped = false;

  const interval = setInterval(() => {
    if (outstanding !== undefined) return;
    outstanding = ++nonce;
    deadline = setTimeout(() => {
      if (stopped) return;
      stop();
      options.onDead();
    }, options.timeoutMs).unref();
    options.sendPing(outstanding);
  }, options.intervalMs).unref();

  function stop(): void {
    stopped = true;
    clearInterval(interval);
    clearTimeout(deadline);
  }

  return {
    pong(answered) {
      if (answered !== outstanding) return;
      outstanding = undefined;
      clearTimeout(deadline);
    },
    stop,
  };
}
