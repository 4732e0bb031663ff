import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Command } from "commander";
import { clientSettings } from "../config/client-settings.js";
import { loadConfig } from "../config/load-config.js";
import { serverSettings } from "../config/server-settings.js";
import { createLogger } from "../lib/logger.js";
import { runUntilSignal } from "./run-until-signal.js";

const DEMO_DOMAIN = "demo.localhost";

/**
 * `hopgate demo`: a whole HopGate on this machine with no configuration: a server (embedded
 * store and self-signed certificate in a temporary directory, unprivileged ports), a registered
 * demo domain, a demo backend and a client; prints a curl command and runs until Ctrl-C.
 */
export function demoCommand(): Command {
  return new Command("demo")
    .description("Run server, demo backend and client on this machine and print a curl command")
    .option("--https-port <port>", "HTTPS port of the demo server (0 picks a free one)", "8443")
    .option("--log-level <level>", "log level of the demo's components", "warn")
    .action(async (options: { httpsPort: string; logLevel: string }) => {
      const { startServer } = await import("../server/start-server.js");
      const { startClient } = await import("../client/start-client.js");
      const { startDemoBackend } = await import("../demo/demo-backend.js");
      const dir = await mkdtemp(join(tmpdir(), "hopgate-demo-"));
      const adminKey = randomBytes(24).toString("base64url");
      const serverConfig = loadConfig(serverSettings, {
        env: {},
        dotenvDir: null,
        flags: {
          domain: "localhost",
          httpsListen: `127.0.0.1:${options.httpsPort}`,
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
      const caFile = join(dir, "demo-ca.pem");
      await writeFile(caFile, server.defaultCertificatePem());
      const { clientApiKey } = await server.domains.register(DEMO_DOMAIN, "hopgate demo");
      const backend = await startDemoBackend();
      let connected!: () => void;
      const ready = new Promise<void>((resolve) => (connected = resolve));
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
        { onStatus: (status) => status.t === "connected" && connected() },
      );
      await ready;
      const port = server.httpsPort;
      process.stdout.write(
        [
          "",
          "HopGate demo is running: server, client and a demo backend on this machine.",
          "",
          `  visitor  →  https://${DEMO_DOMAIN}:${port}  (server)  →  tunnel  →  client  →  ${backend.url}`,
          "",
          "Try it:",
          `  curl --resolve ${DEMO_DOMAIN}:${port}:127.0.0.1 --cacert ${caFile} https://${DEMO_DOMAIN}:${port}/hello`,
          `  curl --resolve ${DEMO_DOMAIN}:${port}:127.0.0.1 -k -N https://${DEMO_DOMAIN}:${port}/events`,
          "",
          "Admin API:",
          `  curl --resolve localhost:${port}:127.0.0.1 --cacert ${caFile} -H "Authorization: Bearer ${adminKey}" https://localhost:${port}/api/v1/admin/sessions`,
          `  Metrics: http://127.0.0.1:${server.metricsPort}/metrics`,
          "",
          "Press Ctrl-C to stop.",
          "",
        ].join("\n"),
      );
      await runUntilSignal(
        async () => {
          await client.stop();
          await backend.close();
          await server.stop(2_000);
          await rm(dir, { recursive: true, force: true });
        },
        (error) => process.stderr.write(`hopgate demo: ${String(error)}\n`),
      );
      process.stdout.write("HopGate demo stopped.\n");
    });
}
