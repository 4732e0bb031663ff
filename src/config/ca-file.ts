import { readFileSync } from "node:fs";
import { ConfigError } from "./config-error.js";
import type { Setting } from "./setting.js";

/**
 * The PEM text of the CA file a setting names (HOP_CLIENT_CA_FILE, HOP_ADMIN_CA_FILE,
 * HOP_ACME_DIRECTORY_CA_FILE). Read once at start-up; a file that cannot be read is a
 * ConfigError naming the setting, its flag and the path.
 */
export function readCaFile(path: string, setting: Pick<Setting<unknown>, "env" | "flag">): string {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    throw new ConfigError(
      `${setting.env} (${setting.flag}) "${path}" cannot be read: ${(error as Error).message}`,
      { cause: error },
    );
  }
}
