import { createServer, connect, type AddressInfo, type Socket } from "node:net";
import type { Cleanup } from "./store-backends.js";

export interface TcpProxy {
  readonly port: number;
  /** Stops listening and cuts every open connection, like a database host going away. */
  cut(): Promise<void>;
  /**
   * Silent network death: open connections stop carrying bytes either way and new ones are
   * accepted but never forwarded; no side sees a close or a reset.
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
  let stalled = false;
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => socket.destroy());
  };
  const server = createServer((visitor) => {
    track(visitor);
    if (stalled) return void visitor.pause();
    const upstream = connect(target.port, target.host);
    track(upstream);
    visitor.pipe(upstream).pipe(visitor);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  let cut: Promise<void> | undefined;
  const proxy: TcpProxy = {
    port,
    cut: () =>
      (cut ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      })),
    stall: () => {
      stalled = true;
      for (const socket of sockets) {
        socket.unpipe();
        socket.pause();
      }
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
