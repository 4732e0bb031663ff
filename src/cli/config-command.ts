import { Command } from "commander";
import { loadConfigWithSources, type SettingSource } from "../config/load-config.js";
import { clientSettings } from "../config/client-settings.js";
import { serverSettings, type ServerConfig } from "../config/server-settings.js";
import type { Setting, SettingTable } from "../config/setting.js";
import { serviceTargetText } from "../config/service-spec.js";
import { maskDsn } from "../lib/secret.js";
import { addSettingOptions, settingFlags } from "./settings-options.js";

/**
 * `hopgate config server|client`: validates the configuration exactly as the program would and
 * prints the result keyed by the `HOP_*` names an operator sets, so a deployment can be checked
 * before it starts. API keys and passwords show as `****`; a DSN and the Loki endpoint show with
 * only their passwords masked (user, host and database are what an operator checks). For the
 * server, HOP_SERVER_TLS shows the certificate source that will be used, also when it is unset
 * and follows the domain. A secret read from its file form shows as masked, followed by
 * `(from file <path>)`.
 */
export function configCommand(): Command {
  const command = new Command("config").description("Validate and print the effective configuration");
  for (const [name, table] of [
    ["server", serverSettings],
    ["client", clientSettings],
  ] as const) {
    const sub = addSettingOptions(new Command(name).description(`Check the ${name} configuration`), table);
    sub.action(async () => {
      const loaded = loadConfigWithSources(table as SettingTable, { flags: settingFlags(sub, table) });
      const config: Record<string, unknown> = loaded.config;
      const shown: Record<string, unknown> = {};
      for (const [key, setting] of Object.entries(table as SettingTable)) {
        shown[setting.env] = withFileOrigin(shownValue(setting, config[key]), loaded.sources[key]);
      }
      if (name === "server") {
        // Loaded here only: the certificate sources are server code the other commands never need.
        const { tlsModeOf } = await import("../server/certificate-sources.js");
        shown[serverSettings.tls.env] = tlsModeOf(config as unknown as ServerConfig);
      }
      process.stdout.write(`${JSON.stringify(shown, null, 2)}\n`);
    });
    command.addCommand(sub);
  }
  return command;
}

function shownValue(setting: Setting<unknown>, value: unknown): unknown {
  // A service target (--local-target) as it is written, not as its parsed parts.
  if (isServiceTarget(value)) return serviceTargetText(value);
  if (value === undefined || setting.secret === undefined) return value;
  return setting.secret === "url" && typeof value === "string" ? maskDsn(value) : "****";
}

function withFileOrigin(shown: unknown, source: SettingSource | undefined): unknown {
  return source?.file === undefined ? shown : `${String(shown)} (from file ${source.file})`;
}

function isServiceTarget(value: unknown): value is { target: URL; http2?: true } {
  return typeof value === "object" && value !== null && "target" in value && value.target instanceof URL;
}
