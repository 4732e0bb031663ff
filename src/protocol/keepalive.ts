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
  return new KeepaliveTimer(options);
}

/** One object and one interval per tunnel, no closures: a server holds one per idle tunnel. */
class KeepaliveTimer implements Keepalive {
  readonly #options: KeepaliveOptions;
  readonly #interval: NodeJS.Timeout;
  #nonce = 0n;
  #outstanding: bigint | undefined;
  #deadline: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(options: KeepaliveOptions) {
    this.#options = options;
    this.#interval = setInterval(ping, options.intervalMs, this).unref();
  }

  pong(answered: bigint): void {
    if (answered !== this.#outstanding) return;
    this.#outstanding = undefined;
    clearTimeout(this.#deadline);
  }

  stop(): void {
    this.#stopped = true;
    clearInterval(this.#interval);
    clearTimeout(this.#deadline);
  }

  /** The interval's turn: a new ping unless one is outstanding. */
  ping(): void {
    if (this.#outstanding !== undefined) return;
    this.#outstanding = ++this.#nonce;
    this.#deadline = setTimeout(unanswered, this.#options.timeoutMs, this).unref();
    this.#options.sendPing(this.#outstanding);
  }

  /** The outstanding ping's deadline passed. */
  unanswered(): void {
    if (this.#stopped) return;
    this.stop();
    this.#options.onDead();
  }
}

function ping(keepalive: KeepaliveTimer): void {
  keepalive.ping();
}

function unanswered(keepalive: KeepaliveTimer): void {
  keepalive.unanswered();
}
