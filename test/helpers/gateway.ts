import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { clientSettings } from "../../src/config/client-settings.js";
import { loadConfig } from "../../src/config/load-config.js";
import { serverSettings } from "../../src/config/server-settings.js";
import { startClient, type ClientHandle } from "../../src/client/start-client.js";
import type { TunnelClientStatus } from "../../src/client/tunnel-client.js";
import { createLogger, silentLogger, type Logger } from "../../src/lib/logger.js";
import { startServer, type ServerHandle } from "../../src/server/start-server.js";
import { tempDir } from "./temp-dir.js";
import { tlsFixture } from "./tls-fixture.js";

export interface Gateway {
  readonly port: number;
  readonly server: ServerHandle;
  readonly caFile: string;
  /** Registers `domain` in the store and returns its client API key. */
  register(domain: string): Promise<string>;
}

/** Logs of the code under test: silent unless HOPGATE_TEST_LOG=debug|info|... is set. */
export function testLogger(): Logger {
  const level = process.env.HOPGATE_TEST_LOG;
  return level ? createLogger({ level: level as "debug", destination: process.stderr }) : silentLogger();
}

/**
 * A real HopGate server on 127.0.0.1 and a free port, with the embedded store in a temporary
 * directory and the test certificate; stopped (and everything removed) when the test ends.
 * Debug mode lets clients reach the tunnel endpoint at 127.0.0.1.
 */
export async function startGateway(
  t: TestContext,
  flags: Record<string, string> = {},
  logger: Logger = testLogger(),
): Promise<Gateway> {
  const dir = await tempDir(t);
  const fixture = tlsFixture();
  const certFile = join(dir, "cert.pem");
  const keyFile = join(dir, "key.pem");
  await writeFile(certFile, fixture.cert);
  await writeFile(keyFile, fixture.key);
  const config = loadConfig(serverSettings, {
    env: {},
    dotenvDir: null,
    flags: {
      domain: "gateway.test",
      httpsListen: "127.0.0.1:0",
      httpListen: "127.0.0.1:0",
      dataDir: join(dir, "data"),
      tls: "files",
      tlsCertFile: certFile,
      tlsKeyFile: keyFile,
      debug: "true",
      metricsListen: "127.0.0.1:0",
      ...flags,
    },
  });
  const server = await startServer(config, logger);
  t.after(() => server.stop());
  return {
    port: server.httpsPort,
    server,
    caFile: certFile,
    register: async (domain) => (await server.domains.register(domain, "test")).clientApiKey,
  };
}

export interface TestClient {
  readonly handle: Promise<ClientHandle>;
  /** Resolves once the tunnel is accepted (v2) or, for v1, immediately. */
  readonly connected: Promise<void>;
  /** Every status the client reported so far, in order. */
  readonly statuses: readonly TunnelClientStatus[];
}

/** A real HopGate client for `domain` through `gateway` (or any server with a port and CA file), stopped when the test ends. */
export function startTestClient(
  t: TestContext,
  gateway: Pick<Gateway, "port" | "caFile">,
  domain: string,
  apiKey: string,
  services: string[],
  flags: Record<string, string> = {},
  logger: Logger = testLogger(),
): TestClient {
  const config = loadConfig(clientSettings, {
    env: {},
    dotenvDir: null,
    flags: {
      serverAddr: `https://127.0.0.1:${gateway.port}`,
      domain,
      apiKey,
      services,
      caFile: gateway.caFile,
      shutdownTimeoutSeconds: "2",
      ...flags,
    },
  });
  let markConnected!: () => void;
  const connected = new Promise<void>((resolve) => (markConnected = resolve));
  const statuses: TunnelClientStatus[] = [];
  const handle = startClient(config, logger, {
    onStatus: (status: TunnelClientStatus) => {
      statuses.push(status);
      if (status.t === "connected") markConnected();
    },
  });
  t.after(async () => (await handle).stop());
  return { handle, connected: handle.then(() => connected), statuses };
}
