import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { ConfigError } from "./config-error.js";
import type { Setting } from "./setting.js";

/**
 * The `_FILE` form of a secret setting (as the postgres image's POSTGRES_PASSWORD_FILE, Docker and
 * Kubernetes secrets, systemd's LoadCredential): `HOP_ADMIN_API_KEY_FILE=/run/secrets/x` or
 * `--admin-api-key-file /run/secrets/x` read the value from that file, so that it shows neither
 * in `ps` and /proc/<pid>/cmdline (flags) nor in `docker inspect` and child processes (environment).
 * Only settings marked `secret` with a single value have one.
 */

/** A secret is a key, a password or a URL; a bigger file is a wrong path, not a secret. */
export const MAX_SECRET_FILE_BYTES = 64 * 1024;

export function hasSecretFile(setting: Setting<unknown>): boolean {
  return setting.secret !== undefined && setting.kind === "value";
}

/** `HOP_ADMIN_API_KEY` → `HOP_ADMIN_API_KEY_FILE`. */
export function secretFileEnv(setting: Setting<unknown>): string {
  return `${setting.env}_FILE`;
}

/** `--admin-api-key` → `--admin-api-key-file`. */
export function secretFileFlag(setting: Setting<unknown>): string {
  return `${setting.flag}-file`;
}

/**
 * Key of the file flag in `loadConfig`'s `flags` source, next to the setting's own name; the
 * colon keeps it apart from every setting name (identifiers).
 */
export function secretFileFlagKey(name: string): string {
  return `${name}:file`;
}

/**
 * The secret held in `path`, named by `source` (e.g. `HOP_ADMIN_API_KEY_FILE`) in errors. One
 * trailing newline (`\n` or `\r\n`, as `echo` writes) is removed, nothing else: the loader's
 * schema validates the rest exactly as it would the value itself. Errors name the source and the
 * path, never the content.
 */
export function readSecretFile(source: string, path: string): string {
  let content: string;
  try {
    content = readBounded(path);
  } catch (error) {
    if (error instanceof ConfigError) throw new ConfigError(`${source}: ${error.message}`);
    const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new ConfigError(`${source}: cannot read ${path} (${reason})`, { cause: error });
  }
  const value = content.replace(/\r?\n$/, "");
  if (value === "") throw new ConfigError(`${source}: ${path} is empty`);
  return value;
}

function readBounded(path: string): string {
  const fd = openSync(path, "r");
  try {
    if (!fstatSync(fd).isFile()) throw new ConfigError(`${path} is not a regular file`);
    // Read one byte past the limit so that a bigger file is refused, not cut.
    const buffer = Buffer.alloc(MAX_SECRET_FILE_BYTES + 1);
    let length = 0;
    for (let read = -1; read !== 0 && length < buffer.length; length += read) {
      read = readSync(fd, buffer, length, buffer.length - length, null);
    }
    if (length > MAX_SECRET_FILE_BYTES) {
      throw new ConfigError(`${path} is larger than ${MAX_SECRET_FILE_BYTES} bytes`);
    }
    return buffer.subarray(0, length).toString("utf8");
  } finally {
    closeSync(fd);
  }
}
