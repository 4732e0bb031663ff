import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { createServer } from "node:net";
import { join } from "node:path";
import { Command } from "commander";
import { clientSettings } from "../config/client-settings.js";
import { loadConfig } from "../config/load-config.js";
import { serverSettings } from "../config/server-settings.js";
import { CleanupStack } from "../lib/cleanup-stack.js";
import { createLogger } from "../lib/logger.js";
import { interruptSignal } from "./run-until-signal.js";

const DEMO_DOMAIN = "demo.localhost";
/** The demo's HTTPS port unless --https-port says otherwise; a free one when it is taken. */
const DEFAULT_HTTPS_PORT = 8443;

interface DemoOptions {
  readonly httpsPort?: string;
  readonly logLevel: string;
}

/** What the instructions name of a running demo. */
interface RunningDemo {
  readonly port: number;
  readonly caFile: string;
  readonly adminKey: string;
  readonly backendUrl: string;
  readonly metricsPort: number | undefined;
}

/**
 * `hopgate demo`: a whole HopGate on this machine with no configuration: a server (embedded
 * store and self-signed certificate in a temporary directory, unprivileged ports), a registered
 * demo domain, a demo backend and a client; prints a curl command and runs until Ctrl-C. Every
 * exit (Ctrl-C, also during start-up, or a failed start-up) stops what was started and removes
 * the temporary directory.
 */
export function demoCommand(): Command {
  return new Command("demo")
    .description("Run server, demo backend and client on this machine and print a curl command")
    .option(
      "--https-port <port>",
      `HTTPS port of the demo server, 0 picks a free one (default: ${DEFAULT_HTTPS_PORT}, or a free port when it is taken)`,
    )
    .option("--log-level <level>", "log level of the demo's components", "warn")
    .action(async (options: DemoOptions) => {
      const interrupt = interruptSignal();
      const cleanup = new CleanupStack();
      try {
        const demo = await startDemo(options, cleanup, interrupt);
        process.stdout.write(instructions(demo));
        await untilAborted(interrupt);
      } catch (error) {
        // Ctrl-C during start-up is an ordinary stop; any other failure is reported by main.
        if (!interrupt.aborted) throw error;
      } finally {
        await cleanup.run((name, error) => {
          process.stderr.write(`hopgate demo: stopping the ${name} failed: ${String(error)}\n`);
          process.exitCode = 1;
        });
      }
      process.stdout.write("HopGate demo stopped.\n");
    });
}

/** Starts each part and pushes its stop at once, so that a failure or Ctrl-C leaves nothing behind. */
async function startDemo(
  options: DemoOptions,
  cleanup: CleanupStack,
  interrupt: AbortSignal,
): Promise<RunningDemo> {
  const { startServer } = await import("../server/start-server.js");
  const { startClient } = await import("../client/start-client.js");
  const { startDemoBackend } = await import("../demo/demo-backend.js");
  interrupt.throwIfAborted();
  const httpsPort = options.httpsPort ?? (await defaultHttpsPort());
  const dir = await mkdtemp(join(tmpdir(), "hopgate-demo-"));
  cleanup.push("temporary directory", () => rm(dir, { recursive: true, force: true }));
  const adminKey = randomBytes(24).toString("base64url");
  const serverConfig = loadConfig(serverSettings, {
    env: {},
    dotenvDir: null,
    flags: {
      domain: "localhost",
      httpsListen: `127.0.0.1:${httpsPort}`,
      httpListen: "127.0.0.1:0",
      metricsListen: "127.0.0.1:0",
      tls: "self-signed",
      proxyDomains: [DEMO_DOMAIN],
      dataDir: join(dir, "data"),
      adminApiKey: adminKey,
      debug: "true",
      logLevel: options.logLevel,
    },
  });
  // Parsed by the server's settings, so an unknown level is refused as for `hopgate server`.
  const level = serverConfig.logLevel;
  const server = await startServer(
    serverConfig,
    createLogger({ level, base: { service: "hopgate-server" } }),
  );
  cleanup.push("server", () => server.stop(2_000));
  interrupt.throwIfAborted();
  const caFile = join(dir, "demo-ca.pem");
  await writeFile(caFile, server.defaultCertificatePem());
  const { clientApiKey } = await server.domains.register(DEMO_DOMAIN, "hopgate demo");
  const backend = await startDemoBackend();
  cleanup.push("demo backend", () => backend.close());
  interrupt.throwIfAborted();
  const { promise: connected, resolve: onConnected } = Promise.withResolvers<void>();
  const client = await startClient(
    loadConfig(clientSettings, {
      env: {},
      dotenvDir: null,
      flags: {
        serverAddr: `https://127.0.0.1:${server.httpsPort}`,
        domain: DEMO_DOMAIN,
        apiKey: clientApiKey,
        services: [`web=${backend.url}`],
        caFile,
        shutdownTimeoutSeconds: "5",
      },
    }),
    createLogger({ level, base: { service: "hopgate-client" } }),
    { onStatus: (status) => status.t === "connected" && onConnected() },
  );
  cleanup.push("client", () => client.stop());
  await Promise.race([connected, untilAborted(interrupt)]);
  interrupt.throwIfAborted();
  return {
    port: server.httpsPort,
    caFile,
    adminKey,
    backendUrl: backend.url,
    metricsPort: server.metricsPort,
  };
}

/**
 * 8443, or 0 (a free port) when something on this machine already listens there: a user who
 * tries the demo twice, or runs another HTTPS server, still gets a demo. Says so on stderr. An
 * explicit --https-port is used as given, and a taken one fails the start-up.
 */
async function defaultHttpsPort(): Promise<string> {
  const probe = createServer();
  const free = await new Promise<boolean>((resolve) => {
    probe.once("error", () => resolve(false));
    probe.listen(DEFAULT_HTTPS_PORT, "127.0.0.1", () => resolve(true));
  });
  if (free) {
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    return String(DEFAULT_HTTPS_PORT);
  }
  process.stderr.write(`hopgate demo: port ${DEFAULT_HTTPS_PORT} is taken; using a free port instead\n`);
  return "0";
}

function untilAborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
}

function instructions(demo: RunningDemo): string {
  const { port, caFile, adminKey } = demo;
  return [
    "",
    "HopGate demo is running: server, client and a demo backend on this machine.",
    "",
    `  visitor  →  https://${DEMO_DOMAIN}:${port}  (server)  →  tunnel  →  client  →  ${demo.backendUrl}`,
    "",
    "Try it:",
    `  curl --resolve ${DEMO_DOMAIN}:${port}:127.0.0.1 --cacert ${caFile} https://${DEMO_DOMAIN}:${port}/hello`,
    `  curl --resolve ${DEMO_DOMAIN}:${port}:127.0.0.1 -k -N https://${DEMO_DOMAIN}:${port}/events`,
    "",
    "Admin API:",
    `  curl --resolve localhost:${port}:127.0.0.1 --cacert ${caFile} -H "Authorization: Bearer ${adminKey}" https://localhost:${port}/api/v1/admin/sessions`,
    `  Metrics: http://127.0.0.1:${demo.metricsPort}/metrics`,
    "",
    "Press Ctrl-C to stop.",
    "",
  ].join("\n");
}
