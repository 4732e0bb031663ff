import { clientSettings } from "./client-settings.js";
import type { ConfigOf } from "./setting.js";

/** What a config file declares instead of flags and environment: the server and the domains. */
const FILE_DECLARED = ["serverAddr", "domain", "apiKey", "localTarget", "services"] as const;
type FileDeclared = (typeof FILE_DECLARED)[number];

/**
 * Settings of a client started with `--config`: every client setting but those the file
 * declares (logging, metrics, inspector, shutdown and server-trust stay flags and environment).
 */
export const clientProcessSettings = Object.fromEntries(
  Object.entries(clientSettings).filter(([name]) => !(FILE_DECLARED as readonly string[]).includes(name)),
) as Omit<typeof clientSettings, FileDeclared>;

export type ClientProcessConfig = ConfigOf<typeof clientProcessSettings>;

/** The file-declared settings given as flags or environment next to `--config`, by flag name. */
export function fileDeclaredFlags(): ReadonlyArray<{ name: FileDeclared; env: string; flag: string }> {
  return FILE_DECLARED.map((name) => ({
    name,
    env: clientSettings[name].env,
    flag: clientSettings[name].flag,
  }));
}
