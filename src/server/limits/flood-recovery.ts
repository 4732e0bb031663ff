import { compactHeap } from "../../lib/heap-compaction.js";

/** Anything that reports its end once: a net.Socket. */
export interface Closable {
  once(event: "close", listener: () => void): unknown;
}

export interface FloodRecoveryOptions {
  /** Connections that must have closed since the last peak before a collection is worth it. */
  readonly minClosed?: number;
  /** Quiet time after the last of those closes (a flood that ends closes thousands at once). */
  readonly quietMs?: number;
  /** One full GC; returns whether it ran (heap-compaction.ts, which needs `--expose-gc`). */
  readonly collect?: () => boolean;
}

export interface FloodRecovery {
  /** Counts `connection` as open until it emits `close`. */
  track(connection: Closable): void;
  stop(): void;
}

const MIN_CLOSED = 1000;
const QUIET_MS = 2000;

/**
 * Gives a flood's memory back once it has ended. The native memory of a closed TLS connection
 * (OpenSSL's state and buffers, the socket's and the HTTP/2 session's) is freed only when V8
 * collects its JavaScript objects, and an idle server runs no GC: after 10,000 idle connections
 * closed, the server kept ~750 MiB until its next busy minute (docs/performance.md, Connection
 * flood). Once `minClosed` connections have closed since the peak of open ones, and none for
 * `quietMs`, one compacting GC runs; the allocator can then return the pages (jemalloc does
 * within a second, see deploy/; glibc mostly keeps them).
 */
export function createFloodRecovery(options: FloodRecoveryOptions = {}): FloodRecovery {
  const minClosed = options.minClosed ?? MIN_CLOSED;
  const quietMs = options.quietMs ?? QUIET_MS;
  const collect = options.collect ?? (() => compactHeap());
  let open = 0;
  let peak = 0;
  let timer: NodeJS.Timeout | undefined;
  const recover = () => {
    timer = undefined;
    collect();
    peak = open;
  };
  return {
    track(connection) {
      open++;
      peak = Math.max(peak, open);
      connection.once("close", () => {
        open--;
        if (peak - open < minClosed) return;
        clearTimeout(timer);
        timer = setTimeout(recover, quietMs);
        timer.unref();
      });
    },
    stop() {
      clearTimeout(timer);
      timer = undefined;
    },
  };
}
