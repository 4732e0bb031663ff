import { createServer } from "node:net";

/**
 * A port that was free a moment ago on 127.0.0.1, for programs that cannot be told to take
 * port 0 and report back (pebble's config file). Our own servers listen on port 0 instead.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** A port kept bound by this process until `release`, so no other test process takes it meanwhile. */
export interface PortHold {
  readonly port: number;
  /** Frees the port (resolves once closed); again is a no-op. */
  release(): Promise<void>;
}

/**
 * Binds `port` on 127.0.0.1 (0: any free port) and keeps it until released: for programs told a
 * port in a config file (pebble), released right before they start, which leaves other test
 * files no window of seconds to take it (freePort's port is free only "a moment ago").
 */
export function holdPort(port = 0): Promise<PortHold> {
  return new Promise((resolve, reject) => {
    // A connection is reset at once, as near as a listener gets to "refused": a client of the
    // program that is not running yet fails fast instead of waiting on a silent socket.
    const server = createServer((socket) => socket.resetAndDestroy());
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => {
      server.unref(); // a hold never keeps a test process alive
      const address = server.address();
      let closed: Promise<void> | undefined;
      resolve({
        port: typeof address === "object" && address ? address.port : port,
        release: () => (closed ??= new Promise<void>((done) => server.close(() => done()))),
      });
    });
  });
}
