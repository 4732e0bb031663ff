import { Command } from "commander";
import { clientSettings } from "../config/client-settings.js";
import { loadConfig } from "../config/load-config.js";
import { lokiOptionsFromConfig } from "../config/logging-settings.js";
import { createLogging } from "../lib/logging.js";
import { runUntilSignal } from "./run-until-signal.js";
import { addSettingOptions, settingFlags } from "./settings-options.js";

export function clientCommand(): Command {
  const command = addSettingOptions(
    new Command("client").description("Run a HopGate client: tunnel local services to the server"),
    clientSettings,
  );
  return command.action(async () => {
    const config = loadConfig(clientSettings, { flags: settingFlags(command, clientSettings) });
    const logging = createLogging({
      level: config.debug && config.logLevel === "info" ? "debug" : config.logLevel,
      base: { service: "hopgate-client" },
      loki: lokiOptionsFromConfig(config, "hopgate-client"),
    });
    const logger = logging.logger.child({ component: "cli" });
    try {
      const { startClient } = await import("../client/start-client.js");
      const client = await startClient(config, logging.logger);
      await runUntilSignal(
        () => client.stop(),
        (error) => logger.error({ err: error }, "shutdown failed"),
      );
      logger.info("HopGate client stopped");
    } finally {
      await logging.close();
    }
  });
}
