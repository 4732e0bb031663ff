import { Command } from "commander";
import { loadConfig } from "../config/load-config.js";
import { serverSettings } from "../config/server-settings.js";
import { lokiOptionsFromConfig } from "../config/logging-settings.js";
import { createLogging } from "../lib/logging.js";
import { runUntilSignal } from "./run-until-signal.js";
import { addSettingOptions, settingFlags } from "./settings-options.js";

export function serverCommand(): Command {
  const command = addSettingOptions(
    new Command("server").description("Run the public HopGate server (TLS edge, tunnels, admin API)"),
    serverSettings,
  );
  return command.action(async () => {
    const config = loadConfig(serverSettings, { flags: settingFlags(command, serverSettings) });
    const logging = createLogging({
      level: config.logLevel,
      base: { service: "hopgate-server" },
      loki: lokiOptionsFromConfig(config, "hopgate-server"),
    });
    const logger = logging.logger.child({ component: "cli" });
    try {
      const { startServer } = await import("../server/start-server.js");
      const server = await startServer(config, logging.logger);
      await runUntilSignal(
        () => server.stop(config.shutdownTimeoutSeconds * 1000),
        (error) => logger.error({ err: error }, "shutdown failed"),
      );
      logger.info("HopGate server stopped");
    } finally {
      await logging.close();
    }
  });
}
