import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse as parseDotenv } from "dotenv";
import { maskDsn, maskSecret } from "../lib/secret.js";
import { ConfigError } from "./config-error.js";
import type { ConfigOf, Setting, SettingTable } from "./setting.js";

/** Raw values by source. Precedence: flags, then the real environment, then `.env`, then defaults. */
export interface ConfigSources {
  readonly flags?: Readonly<Record<string, string | string[] | boolean | undefined>>;
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Directory whose `.env` file is read; the working directory when omitted, none when null. */
  readonly dotenvDir?: string | null;
}

type Origin = "flag" | "environment" | ".env" | "default";

/**
 * Validates every setting of `table` from `sources` into a typed config. Throws ConfigError with
 * one line naming the variable (or flag), the masked bad value and what is expected. Flags are
 * keyed by setting name (the table's key); an empty string counts as unset.
 */
export function loadConfig<S extends SettingTable>(table: S, sources: ConfigSources = {}): ConfigOf<S> {
  const env = sources.env ?? process.env;
  const dotenv = readDotenv(sources.dotenvDir === undefined ? process.cwd() : sources.dotenvDir);
  const config: Record<string, unknown> = {};
  for (const [name, setting] of Object.entries(table)) {
    const [raw, origin] = pick(setting, sources.flags?.[name], env[setting.env], dotenv[setting.env]);
    const result = setting.schema.safeParse(raw);
    if (!result.success) {
      if (raw === undefined) {
        throw new ConfigError(
          `${setting.env} (or ${setting.flag}) is required: expected ${setting.expected}`,
        );
      }
      const reason = result.error.issues[0]?.message ?? "invalid";
      throw new ConfigError(
        `${describeSource(setting, origin)}=${JSON.stringify(shown(setting, raw))} is invalid (${reason}): expected ${setting.expected}`,
      );
    }
    config[name] = result.data;
  }
  return config as ConfigOf<S>;
}

function pick(
  setting: Setting<unknown>,
  flag: string | string[] | boolean | undefined,
  env: string | undefined,
  dotenv: string | undefined,
): [string | string[] | undefined, Origin] {
  if (flag !== undefined && flag !== "" && !(Array.isArray(flag) && flag.length === 0)) {
    return [typeof flag === "boolean" ? String(flag) : flag, "flag"];
  }
  if (env !== undefined && env !== "") return [env, "environment"];
  if (dotenv !== undefined && dotenv !== "") return [dotenv, ".env"];
  return [setting.default, "default"];
}

function describeSource(setting: Setting<unknown>, origin: Origin): string {
  switch (origin) {
    case "flag":
      return setting.flag;
    case "environment":
      return setting.env;
    case ".env":
      return `${setting.env} (from .env)`;
    case "default":
      return `${setting.env} (default)`;
  }
}

function shown(setting: Setting<unknown>, raw: string | string[] | undefined): string | string[] | null {
  if (raw === undefined) return null;
  const mask = (value: string) =>
    setting.secret === "key" ? maskSecret(value) : setting.secret === "url" ? maskDsn(value) : value;
  return Array.isArray(raw) ? raw.map(mask) : mask(raw);
}

function readDotenv(dir: string | null): Record<string, string> {
  if (dir === null) return {};
  try {
    return parseDotenv(readFileSync(join(dir, ".env")));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return {};
    throw new ConfigError(`cannot read ${join(dir, ".env")}: ${(error as Error).message}`, { cause: error });
  }
}
