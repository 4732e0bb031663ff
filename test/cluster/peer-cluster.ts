import { connect, createServer, type AddressInfo, type Socket } from "node:net";
import type { TestContext } from "node:test";
import { startServerProcess, type ServerProcess } from "../helpers/server-process.js";
import { tempDir } from "../helpers/temp-dir.js";

export interface PeerServer extends ServerProcess {
  /** Its registry id, from its log. */
  readonly id: string;
  /** host:port of its peer listener. */
  readonly peerAddress: string;
}

/** A `hopgate server` process on `dsn` with a peer listener on 127.0.0.1:0 (docs/scale-out.md). */
export async function startPeerServer(
  t: TestContext,
  dsn: string,
  env: Record<string, string> = {},
): Promise<PeerServer> {
  const server = await startServerProcess(t, await tempDir(t), {
    HOP_DB_DSN: dsn,
    HOP_SERVER_PEER_LISTEN: "127.0.0.1:0",
    ...env,
  });
  const ready = await server.process.waitForLine((line) => line.msg === "peer link ready");
  return { ...server, id: String(ready.server_id), peerAddress: String(ready.peer_addr) };
}

export interface RoundRobinFront {
  readonly port: number;
  /** The upstream port of each connection accepted so far, in order. */
  readonly picks: number[];
}

/**
 * "A DNS name resolving to every server": 127.0.0.1:<port> forwards each new TCP connection to
 * the next upstream in turn, skipping one that refuses the connection (a killed server).
 */
export async function startRoundRobinFront(
  t: TestContext,
  upstreams: readonly number[],
): Promise<RoundRobinFront> {
  let next = 0;
  const picks: number[] = [];
  const sockets = new Set<Socket>();
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  };
  const server = createServer((visitor) => {
    track(visitor);
    visitor.pause();
    const attempt = (left: number) => {
      const port = upstreams[next++ % upstreams.length]!;
      const target = connect(port, "127.0.0.1");
      target.once("error", () => {
        if (target.readyState === "opening" || !target.remoteAddress) {
          if (left > 1) return attempt(left - 1);
          visitor.destroy();
        } else visitor.destroy();
      });
      target.once("connect", () => {
        track(target);
        picks.push(port);
        visitor.on("error", () => target.destroy());
        target.on("close", () => visitor.destroy());
        visitor.on("close", () => target.destroy());
        visitor.pipe(target).pipe(visitor);
        visitor.resume();
      });
    };
    attempt(upstreams.length);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }),
  );
  return { port: (server.address() as AddressInfo).port, picks };
}
