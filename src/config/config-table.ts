import { adminSettings } from "./admin-settings.js";
import { clientSettings } from "./client-settings.js";
import { serverSettings } from "./server-settings.js";
import { hasSecretFile, secretFileEnv, secretFileFlag } from "./secret-file.js";
import type { SettingTable } from "./setting.js";

/**
 * The README's configuration reference, generated from the settings tables themselves so that
 * the documentation cannot drift (`npm run docs:config` writes it; a test compares). A secret
 * setting's row also names its file form (secret-file.ts).
 */
export function configurationMarkdown(): string {
  return [
    section("`hopgate server`", serverSettings),
    section("`hopgate client`", clientSettings),
    section("`hopgate admin`", adminSettings),
  ].join("\n");
}

function section(title: string, table: SettingTable): string {
  const rows = Object.values(table).map((setting) => {
    const flag =
      setting.kind === "value" || setting.kind === "list" ? `${setting.flag} <value>` : setting.flag;
    const fallback =
      setting.default === undefined ? "—" : setting.default === "" ? "(empty)" : `\`${setting.default}\``;
    const variable = hasSecretFile(setting)
      ? `\`${setting.env}\` or \`${secretFileEnv(setting)}\``
      : `\`${setting.env}\``;
    const flags = hasSecretFile(setting)
      ? `\`${flag}\` or \`${secretFileFlag(setting)} <path>\``
      : `\`${flag}\``;
    return `| ${variable} | ${flags} | ${fallback} | ${escape(setting.description)}; ${escape(setting.expected)} |`;
  });
  return [
    `#### ${title}`,
    "",
    "| Variable | Flag | Default | Meaning |",
    "|---|---|---|---|",
    ...rows,
    "",
  ].join("\n");
}

function escape(text: string): string {
  return text.replace(/\|/g, "\\|");
}
