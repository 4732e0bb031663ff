import { connect, createServer, type AddressInfo, type Socket } from "node:net";
import type { TestContext } from "node:test";
import { startBackend, type Backend, type BackendHandler } from "../helpers/backend.js";
import { pollUntil } from "../helpers/poll-until.js";
import { createTestPgDatabase } from "../helpers/postgres.js";
import { startClientProcess, startServerProcess, type ServerProcess } from "../helpers/server-process.js";
import { tempDir } from "../helpers/temp-dir.js";
import { visit } from "../helpers/visit.js";

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

export interface RelayPair {
  /** Holds the only tunnel of the domain. */
  readonly a: PeerServer;
  /** Holds none: relays every request of the domain to A. */
  readonly b: PeerServer;
  readonly backend: Backend;
}

/**
 * Servers A and B on one new database, a client on A serving `domain` from a backend with
 * `handler`, both servers with `env` added to theirs; resolves once both answer `/` of `domain`
 * with 200 (B relaying to A).
 */
export async function startRelayPair(
  t: TestContext,
  domain: string,
  handler: BackendHandler,
  env: Record<string, string> = {},
): Promise<RelayPair> {
  const database = await createTestPgDatabase(t);
  const backend = await startBackend(t, handler);
  const a = await startPeerServer(t, database.dsn, env);
  const b = await startPeerServer(t, database.dsn, env);
  startClientProcess(t, {
    serverPort: a.httpsPort,
    caFile: a.caFile,
    domain,
    apiKey: await a.register(domain),
    backendUrl: backend.url,
  });
  for (const server of [a, b])
    await pollUntil(
      async () =>
        (await visit(server.httpsPort, domain, "/", { timeoutMs: 10_000 }).catch(() => undefined))?.status ===
        200,
      30_000,
      () => `port ${server.httpsPort} never answered 200`,
      200,
    );
  return { a, b, backend };
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
