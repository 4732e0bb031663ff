import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse as parseDotenv } from "dotenv";
import { maskDsn, maskSecret } from "../lib/secret.js";
import { ConfigError } from "./config-error.js";
import {
  hasSecretFile,
  readSecretFile,
  secretFileEnv,
  secretFileFlag,
  secretFileFlagKey,
} from "./secret-file.js";
import type { ConfigOf, Setting, SettingTable } from "./setting.js";

/** Raw values by source. Precedence: flags, then the real environment, then `.env`, then defaults. */
export interface ConfigSources {
  readonly flags?: Readonly<Record<string, string | string[] | boolean | undefined>>;
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Directory whose `.env` file is read; the working directory when omitted, none when null. */
  readonly dotenvDir?: string | null;
}

type Origin = "flag" | "environment" | ".env" | "default";

/** Where a setting's raw value came from; `file` is set when it was read from its `_FILE` form. */
export interface SettingSource {
  readonly origin: Origin;
  readonly file?: string;
}

type Raw = string | string[] | undefined;
type FlagValue = string | string[] | boolean | undefined;

/**
 * Validates every setting of `table` from `sources` into a typed config. Throws ConfigError with
 * one line naming the variable (or flag), the masked bad value and what is expected. Flags are
 * keyed by setting name (the table's key); an empty string counts as unset.
 */
export function loadConfig<S extends SettingTable>(table: S, sources: ConfigSources = {}): ConfigOf<S> {
  return loadConfigWithSources(table, sources).config;
}

/**
 * `loadConfig`, also telling where each setting came from (for `hopgate config`). A secret
 * setting's file form (secret-file.ts) is one more input of its layer: within one layer (flags,
 * environment, `.env`) the value and its file form are exclusive; across layers the usual
 * precedence applies, so that a flag's file overrides an environment value.
 */
export function loadConfigWithSources<S extends SettingTable>(
  table: S,
  sources: ConfigSources = {},
): { config: ConfigOf<S>; sources: Record<keyof S, SettingSource> } {
  const env = sources.env ?? process.env;
  const dotenv = readDotenv(sources.dotenvDir === undefined ? process.cwd() : sources.dotenvDir);
  const config: Record<string, unknown> = {};
  const origins: Record<string, SettingSource> = {};
  for (const [name, setting] of Object.entries(table)) {
    const [raw, source] = pick(name, setting, sources.flags ?? {}, env, dotenv);
    origins[name] = source;
    const result = setting.schema.safeParse(raw);
    if (!result.success) {
      if (raw === undefined) {
        const fileForm = hasSecretFile(setting)
          ? `, ${secretFileEnv(setting)} or ${secretFileFlag(setting)}`
          : "";
        throw new ConfigError(
          `${setting.env} (or ${setting.flag}${fileForm}) is required: expected ${setting.expected}`,
        );
      }
      const reason = result.error.issues[0]?.message ?? "invalid";
      if (source.file !== undefined) {
        // Never the content, not even masked: a file's content is all secret.
        throw new ConfigError(
          `${describeSource(setting, source)}: the content of ${source.file} is invalid (${reason}): expected ${setting.expected}`,
        );
      }
      throw new ConfigError(
        `${describeSource(setting, source)}=${JSON.stringify(shown(setting, raw))} is invalid (${reason}): expected ${setting.expected}`,
      );
    }
    config[name] = result.data;
  }
  return { config: config as ConfigOf<S>, sources: origins as Record<keyof S, SettingSource> };
}

function pick(
  name: string,
  setting: Setting<unknown>,
  flags: Readonly<Record<string, FlagValue>>,
  env: Readonly<Record<string, string | undefined>>,
  dotenv: Readonly<Record<string, string>>,
): [Raw, SettingSource] {
  const withFile = hasSecretFile(setting);
  const layers: Array<{ origin: Origin; value: FlagValue; file: FlagValue }> = [
    { origin: "flag", value: flags[name], file: withFile ? flags[secretFileFlagKey(name)] : undefined },
    {
      origin: "environment",
      value: env[setting.env],
      file: withFile ? env[secretFileEnv(setting)] : undefined,
    },
    {
      origin: ".env",
      value: dotenv[setting.env],
      file: withFile ? dotenv[secretFileEnv(setting)] : undefined,
    },
  ];
  for (const { origin, value, file } of layers) {
    const given = isGiven(value);
    if (given && isGiven(file)) {
      const [valueName, fileName] =
        origin === "flag" ? [setting.flag, secretFileFlag(setting)] : [setting.env, secretFileEnv(setting)];
      const where = origin === ".env" ? " in .env" : "";
      throw new ConfigError(`${valueName} and ${fileName} are both set${where}: give only one of them`);
    }
    if (given) return [typeof value === "boolean" ? String(value) : value, { origin }];
    if (typeof file === "string" && file !== "") {
      return [readSecretFile(fileSourceName(setting, origin), file), { origin, file }];
    }
  }
  return [setting.default, { origin: "default" }];
}

function isGiven(value: FlagValue): value is string | string[] | boolean {
  return value !== undefined && value !== "" && !(Array.isArray(value) && value.length === 0);
}

function fileSourceName(setting: Setting<unknown>, origin: Origin): string {
  if (origin === "flag") return secretFileFlag(setting);
  return origin === ".env" ? `${secretFileEnv(setting)} (from .env)` : secretFileEnv(setting);
}

function describeSource(setting: Setting<unknown>, source: SettingSource): string {
  if (source.file !== undefined) return fileSourceName(setting, source.origin);
  switch (source.origin) {
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

function shown(setting: Setting<unknown>, raw: Raw): string | string[] | null {
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
