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
