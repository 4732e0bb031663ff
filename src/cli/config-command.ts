import { Command } from "commander";
import { loadConfig } from "../config/load-config.js";
import { clientSettings } from "../config/client-settings.js";
import { serverSettings } from "../config/server-settings.js";
import { addSettingOptions, settingFlags } from "./settings-options.js";

/**
 * `hopgate config server|client`: validates the configuration exactly as the program would and
 * prints the result (secrets masked), so an operator can check a deployment before starting it.
 */
export function configCommand(): Command {
  const command = new Command("config").description("Validate and print the effective configuration");
  for (const [name, table] of [
    ["server", serverSettings],
    ["client", clientSettings],
  ] as const) {
    const sub = addSettingOptions(new Command(name).description(`Check the ${name} configuration`), table);
    sub.action(() => {
      const config = loadConfig(table, { flags: settingFlags(sub, table) });
      const shown = Object.fromEntries(
        Object.entries(config).map(([key, value]) => [
          key,
          table[key as keyof typeof table].secret && value !== undefined ? "****" : value,
        ]),
      );
      process.stdout.write(`${JSON.stringify(shown, null, 2)}\n`);
    });
    command.addCommand(sub);
  }
  return command;
}
