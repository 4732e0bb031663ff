import type { TestContext } from "node:test";
import { startServer, type ServerHandle, type StartServerOptions } from "../../src/server/start-server.js";
import { acmeServerConfig } from "./acme-server-config.js";
import { freePort } from "./free-port.js";
import { lifoCleanup } from "./lifo-cleanup.js";
import { captureLogs, type LogCapture, type LogLine } from "./log-capture.js";
import { preparePebble, type PebbleSetup, type RunningPebble } from "./pebble.js";
import { createTestPgDatabase, pgSkip } from "./postgres.js";
import { startTcpFront, type TcpFront } from "./tcp-front.js";
import { tempDir } from "./temp-dir.js";
import { tlsHandshake } from "./tls-probe.js";

export interface TestServer {
  readonly name: string;
  readonly handle: ServerHandle;
  readonly logs: LogCapture;
  readonly httpPort: number;
}

export interface AcmeGateway {
  readonly pebble: PebbleSetup;
  readonly running: RunningPebble;
  /** Where pebble's HTTP-01 validation goes: switched to one chosen server. */
  readonly front: TcpFront;
  /** Starts a server whose plain HTTP listener is on `httpPort` (a free one when absent). */
  start(
    name: string,
    flags?: Record<string, string>,
    httpPort?: number,
    serverOptions?: StartServerOptions,
  ): Promise<TestServer>;
}

/**
 * Pebble validating through a TCP front (pebble's `httpPort` is the front's), and servers of one
 * gateway started in this process (`hopgate server` flags in `shared`, e.g. `dbDsn`, or one
 * `dataDir` for a shared SQLite file), each with its own logs and plain HTTP port. Servers stop
 * before pebble and the front.
 */
export async function startAcmeGateway(
  t: TestContext,
  shared: Record<string, string>,
  options: { readonly dataDir?: string; readonly certificateValiditySeconds?: number } = {},
): Promise<AcmeGateway> {
  const cleanup = lifoCleanup(t);
  const front = await startTcpFront(t, 1);
  const pebble = await preparePebble(cleanup, {
    httpPort: front.port,
    certificateValiditySeconds: options.certificateValiditySeconds ?? 60,
  });
  const running = await pebble.start();
  return {
    pebble,
    running,
    front,
    async start(name, flags = {}, chosenHttpPort, serverOptions) {
      const dir = await tempDir(t);
      const httpPort = chosenHttpPort ?? (await freePort());
      const logs = captureLogs();
      const config = await acmeServerConfig(pebble, dir, httpPort, {
        debug: "true",
        ...(options.dataDir ? { dataDir: options.dataDir } : {}),
        ...shared,
        ...flags,
      });
      const handle = await startServer(config, logs.logger, serverOptions);
      cleanup(() => handle.stop());
      return { name, handle, logs, httpPort };
    },
  };
}

/** The issued "acme order" lines of `domain` in a server's log. */
export function issued(server: TestServer, domain: string): LogLine[] {
  return server.logs.lines.filter(
    (l) => l.msg === "acme order" && l.domain === domain && l.result === "issued",
  );
}

/** The serial of the certificate `server` presents for `domain`, verified against pebble's root. */
export async function presented(
  server: TestServer,
  running: RunningPebble,
  domain: string,
): Promise<string | undefined> {
  const peer = await tlsHandshake(server.handle.httpsPort, {
    servername: domain,
    ca: await running.rootPem(),
  }).catch(() => undefined);
  return peer?.serialNumber;
}

/** A store that several servers of one gateway share. */
export interface GatewayStore {
  readonly name: string;
  readonly skip: string | false;
  /** `shared` flags of startAcmeGateway() and its options (a fresh store each time). */
  create(t: TestContext): Promise<{ shared: Record<string, string>; options: { dataDir?: string } }>;
}

export const gatewayStores: readonly GatewayStore[] = [
  {
    name: "PostgreSQL (LISTEN/NOTIFY)",
    skip: pgSkip(),
    async create(t) {
      const database = await createTestPgDatabase(t);
      return { shared: { dbDsn: database.dsn }, options: {} };
    },
  },
  {
    name: "one SQLite file (change counter read each second)",
    skip: false,
    create: async (t) => ({ shared: {}, options: { dataDir: await tempDir(t) } }),
  },
];
