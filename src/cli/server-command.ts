import { Command } from "commander";
import { loadConfig } from "../config/load-config.js";
import { serverSettings } from "../config/server-settings.js";
import { createLogger } from "../lib/logger.js";
import { runUntilSignal } from "./run-until-signal.js";
import { addSettingOptions, settingFlags } from "./settings-options.js";

export function serverCommand(): Command {
  const command = addSettingOptions(
    new Command("server").description("Run the public HopGate server (TLS edge, tunnels, admin API)"),
    serverSettings,
  );
  return command.action(async () => {
    const config = loadConfig(serverSettings, { flags: settingFlags(command, serverSettings) });
    const logger = createLogger({ level: config.logLevel, base: { service: "hopgate-server" } });
    const { startServer } = await import("../server/start-server.js");
    const server = await startServer(config, logger);
    await runUntilSignal(
      () => server.stop(config.shutdownTimeoutSeconds * 1000),
      (error) => logger.error({ err: error }, "shutdown failed"),
    );
    logger.info("HopGate server stopped");
  });
}
