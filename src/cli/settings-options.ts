import { Option, type Command } from "commander";
import { hasSecretFile, secretFileEnv, secretFileFlag, secretFileFlagKey } from "../config/secret-file.js";
import type { SettingTable } from "../config/setting.js";

/**
 * Adds one command-line option per setting (flags win over environment and `.env`) and reads
 * them back keyed by setting name, ready for `loadConfig`'s `flags` source. Values stay raw
 * strings: validation happens in one place, the config loader. The help names each setting's
 * default in its text, not as a commander default: a commander default would count as a flag
 * and hide the environment and `.env`. A secret setting also gets its file form
 * (`--admin-api-key-file <path>`, secret-file.ts).
 */
export function addSettingOptions(command: Command, table: SettingTable): Command {
  for (const setting of Object.values(table)) {
    const shownDefault =
      setting.default === undefined || setting.default === "" ? "" : ` (default: ${setting.default})`;
    const help = `${setting.description}${shownDefault} [env ${setting.env}]`;
    switch (setting.kind) {
      case "switch":
        command.addOption(new Option(setting.flag, help));
        break;
      case "value":
        command.addOption(new Option(`${setting.flag} <value>`, help));
        if (hasSecretFile(setting)) {
          command.addOption(
            new Option(
              `${secretFileFlag(setting)} <path>`,
              `Read ${setting.flag} from a file (one trailing newline removed) [env ${secretFileEnv(setting)}]`,
            ),
          );
        }
        break;
      case "list":
        command.addOption(
          new Option(`${setting.flag} <value>`, `${help} (repeatable, or comma-separated)`).argParser(
            (value: string, previous: string[] | undefined) => [...(previous ?? []), value],
          ),
        );
        break;
    }
  }
  return command;
}

export function settingFlags(
  command: Command,
  table: SettingTable,
): Record<string, string | string[] | boolean | undefined> {
  const options = command.opts<Record<string, string | string[] | boolean | undefined>>();
  const flags: Record<string, string | string[] | boolean | undefined> = {};
  for (const [name, setting] of Object.entries(table)) {
    flags[name] = options[new Option(setting.flag).attributeName()];
    if (hasSecretFile(setting)) {
      flags[secretFileFlagKey(name)] = options[new Option(secretFileFlag(setting)).attributeName()];
    }
  }
  return flags;
}
