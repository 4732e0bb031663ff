import { Command } from "commander";
// The config file's reader (and its YAML parser) is imported when a client reads a file, so
// that every other command, the server above all, does not load it (test/cli/lazy-modules.test.ts).
import type { ClientFile } from "../config/client-file.js";
import { clientProcessSettings, fileDeclaredFlags } from "../config/client-process-settings.js";
import { clientSettings } from "../config/client-settings.js";
import { ConfigError } from "../config/config-error.js";
import { loadConfig } from "../config/load-config.js";
import { lokiOptionsFromConfig } from "../config/logging-settings.js";
import { hasSecretFile, secretFileEnv, secretFileFlag, secretFileFlagKey } from "../config/secret-file.js";
import type { Logger } from "../lib/logger.js";
import { createLogging } from "../lib/logging.js";
import type { ReloadSummary } from "../client/domain-tunnels.js";
import type { ClientStartConfig } from "../client/start-client.js";
import { clientOutput } from "./client-output.js";
import { runUntilSignal } from "./run-until-signal.js";
import { addSettingOptions, settingFlags } from "./settings-options.js";

export function clientCommand(): Command {
  const command = addSettingOptions(
    new Command("client").description("Run a HopGate client: tunnel local services to the server"),
    clientSettings,
  );
  return command.action(async () => {
    const flags = settingFlags(command, clientSettings);
    const config = await startConfig(flags);
    const level = config.debug && config.logLevel === "info" ? "debug" : config.logLevel;
    const output = clientOutput({
      format: config.logFormat,
      isTty: process.stdout.isTTY === true,
      noColor: process.env.NO_COLOR,
      debug: level === "debug" || level === "trace",
    });
    const logging = createLogging({
      level,
      destination: output.destination,
      base: { service: "hopgate-client" },
      loki: lokiOptionsFromConfig(config, "hopgate-client"),
    });
    const logger = logging.logger.child({ component: "cli" });
    try {
      const { startClient } = await import("../client/start-client.js");
      const client = await startClient(config, logging.logger, {
        ...output.hooks,
        interactive: process.stdout.isTTY === true,
      });
      const stopReloading = "file" in config ? reloadOnHangup(config.file.path, client, logger) : undefined;
      await runUntilSignal(
        () => {
          stopReloading?.();
          return client.stop();
        },
        (error) => logger.error({ err: error }, "shutdown failed"),
      );
      logger.info("HopGate client stopped");
    } finally {
      await logging.close();
    }
  });
}

/** Flags and environment alone, or with `--config` (HOP_CLIENT_CONFIG) the file for the domains. */
async function startConfig(
  flags: Record<string, string | string[] | boolean | undefined>,
): Promise<ClientStartConfig> {
  const path = loadConfig({ config: clientSettings.config }, { flags }).config;
  if (path === undefined) return loadConfig(clientSettings, { flags });
  const env = process.env;
  for (const setting of fileDeclaredFlags()) {
    const given = flags[setting.name];
    if (
      (given !== undefined && given !== "" && !(Array.isArray(given) && given.length === 0)) ||
      env[setting.env]
    ) {
      throw new ConfigError(
        `${setting.flag} (${setting.env}) cannot be combined with the config file ${path}: declare it in the file`,
      );
    }
    const secret = clientSettings[setting.name];
    if (hasSecretFile(secret) && (flags[secretFileFlagKey(setting.name)] || env[secretFileEnv(secret)])) {
      throw new ConfigError(
        `${secretFileFlag(secret)} (${secretFileEnv(secret)}) cannot be combined with the config file ${path}: declare it in the file`,
      );
    }
  }
  const { loadClientFile } = await import("../config/client-file.js");
  return { ...loadConfig(clientProcessSettings, { flags }), file: loadClientFile(path, env) };
}

/**
 * SIGHUP re-reads the config file and applies it; domains whose entry did not change keep
 * their tunnels. An invalid file is reported and the running configuration stays.
 */
function reloadOnHangup(
  path: string,
  client: { reload(file: ClientFile): Promise<ReloadSummary> },
  logger: Logger,
): () => void {
  let reloading = Promise.resolve();
  const onHangup = () => {
    reloading = reloading.then(async () => {
      try {
        const { loadClientFile } = await import("../config/client-file.js");
        const summary = await client.reload(loadClientFile(path, process.env));
        logger.info({ config_file: path, ...summary }, "config file reloaded");
      } catch (error) {
        logger.error(
          { err: error, config_file: path },
          "config file not reloaded; the running configuration stays",
        );
      }
    });
  };
  process.on("SIGHUP", onHangup);
  return () => process.off("SIGHUP", onHangup);
}
