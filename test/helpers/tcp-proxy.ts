import { createServer, connect, type AddressInfo, type Socket } from "node:net";
import type { Cleanup } from "./store-backends.js";

export interface TcpProxy {
  readonly port: number;
  /** Connections accepted from clients and not closed yet. */
  readonly openConnections: number;
  /** Stops listening and cuts every open connection, like a database host going away. */
  cut(): Promise<void>;
  /**
   * Silent network death: open connections stop carrying bytes either way and new ones are
   * accepted but never forwarded; neither side sees a close or a reset from the other.
   */
  stall(): void;
  /**
   * The network comes back: listens again on the same port (after `cut`) and forwards anew;
   * connections stalled by `stall` are reset, as a middlebox that lost their state would.
   */
  restore(): Promise<void>;
}

/** Forwards 127.0.0.1:<port> to `target`; lets a test take a real server away mid-session. */
export async function startTcpProxy(
  target: { host: string; port: number },
  cleanup: Cleanup,
): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  const visitors = new Set<Socket>();
  let stalled = false;
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => socket.destroy());
  };
  const server = createServer((visitor) => {
    track(visitor);
    visitors.add(visitor);
    visitor.on("close", () => visitors.delete(visitor));
    if (stalled) return void visitor.resume(); // read and drop
    const upstream = connect(target.port, target.host);
    track(upstream);
    visitor.pipe(upstream).pipe(visitor);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  let cut: Promise<void> | undefined;
  const proxy: TcpProxy = {
    port,
    get openConnections() {
      return visitors.size;
    },
    cut: () =>
      (cut ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      })),
    stall: () => {
      stalled = true;
      // Bytes are read and dropped (so that a close by either side is still seen here).
      for (const socket of sockets) socket.unpipe().resume();
    },
    restore: async () => {
      if (stalled) for (const socket of sockets) socket.resetAndDestroy();
      stalled = false;
      if (!cut) return;
      await cut;
      cut = undefined;
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(port, "127.0.0.1", () => {
          server.off("error", reject);
          resolve();
        });
      });
    },
  };
  cleanup(() => proxy.cut());
  return proxy;
}
