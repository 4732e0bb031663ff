import { connect, createServer, type AddressInfo, type Socket } from "node:net";
import type { TestContext } from "node:test";

export interface TcpFront {
  readonly port: number;
  /** New connections go to 127.0.0.1:`port` from now on; open ones stay where they are. */
  switchTo(port: number): void;
  /** New connections are accepted but not forwarded (nor read) until `release()`. */
  hold(): void;
  /** Forwards the held connections, and new ones again. */
  release(): void;
  /** Connections held now. */
  readonly held: number;
}

/**
 * A TCP load balancer in front of a deployment: 127.0.0.1:<port> forwards each new connection
 * to the current upstream, as a front switched from the old release to the new one does.
 */
export async function startTcpFront(t: TestContext, upstreamPort: number): Promise<TcpFront> {
  let upstream = upstreamPort;
  const sockets = new Set<Socket>();
  let waiting: Socket[] | undefined;
  const forward = (visitor: Socket) => {
    const target = connect(upstream, "127.0.0.1");
    for (const socket of [visitor, target]) {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
      // A reset on one side resets the other, as a real proxy passes on a cut connection.
      socket.on("error", () => (socket === visitor ? target : visitor).destroy());
    }
    visitor.pipe(target).pipe(visitor);
  };
  const server = createServer({ pauseOnConnect: true }, (visitor) => {
    if (!waiting) return forward(visitor);
    sockets.add(visitor);
    visitor.on("close", () => sockets.delete(visitor));
    visitor.on("error", () => visitor.destroy());
    waiting.push(visitor);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }),
  );
  return {
    port: (server.address() as AddressInfo).port,
    switchTo: (port) => (upstream = port),
    hold: () => void (waiting ??= []),
    release() {
      const held = waiting ?? [];
      waiting = undefined;
      for (const visitor of held) if (!visitor.destroyed) forward(visitor);
    },
    get held() {
      return waiting?.filter((visitor) => !visitor.destroyed).length ?? 0;
    },
  };
}
