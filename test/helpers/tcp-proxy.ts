import { createServer, connect, type AddressInfo, type Socket } from "node:net";
import type { Cleanup } from "./store-backends.js";

export interface TcpProxy {
  readonly port: number;
  /** Stops listening and cuts every open connection, like a database host going away. */
  cut(): Promise<void>;
}

/** Forwards 127.0.0.1:<port> to `target`; lets a test take a real server away mid-session. */
export async function startTcpProxy(
  target: { host: string; port: number },
  cleanup: Cleanup,
): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  const server = createServer((visitor) => {
    const upstream = connect(target.port, target.host);
    for (const socket of [visitor, upstream]) {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
      socket.on("error", () => socket.destroy());
    }
    visitor.pipe(upstream).pipe(visitor);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  let cut: Promise<void> | undefined;
  const proxy: TcpProxy = {
    port: (server.address() as AddressInfo).port,
    cut: () =>
      (cut ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      })),
  };
  cleanup(() => proxy.cut());
  return proxy;
}
