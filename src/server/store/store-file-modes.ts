import { chmod, mkdir, open, stat } from "node:fs/promises";
import type { Logger } from "../../lib/logger.js";

/** The store directory: its owner only may list, enter and create files in it. */
export const STORE_DIRECTORY_MODE = 0o700;
/** The store file (ACME account key, certificate private keys): its owner only may read it. */
export const STORE_FILE_MODE = 0o600;
/** Files SQLite keeps next to the database in WAL mode (https://sqlite.org/tempfiles.html). */
const SQLITE_COMPANION_SUFFIXES = ["-wal", "-shm"];

/**
 * Prepares the embedded store's directory and file before SQLite opens it: a missing directory
 * is created 0700 and a missing file 0600 (SQLite gives its `-wal` and `-shm` files the
 * database file's mode). Existing ones are left as the operator made them, but each one that
 * grants group or other users any access is named in a `warn` line, as ssh does for a private
 * key: the file holds the ACME account key and the certificates' private keys.
 */
export async function prepareStoreFile(dataDir: string, file: string, logger: Logger): Promise<void> {
  const createdDir = await mkdir(dataDir, { recursive: true, mode: STORE_DIRECTORY_MODE });
  // mkdir's mode passes through the umask; a umask that strips owner bits would lock us out.
  if (createdDir !== undefined) await chmod(dataDir, STORE_DIRECTORY_MODE);
  else await warnIfLoose(dataDir, STORE_DIRECTORY_MODE, "directory", logger);

  await createIfMissing(file);
  for (const path of [file, ...SQLITE_COMPANION_SUFFIXES.map((suffix) => file + suffix)])
    await warnIfLoose(path, STORE_FILE_MODE, "file", logger);
}

/** Creates `file` empty with mode 0600 unless it exists; never truncates an existing store. */
async function createIfMissing(file: string): Promise<void> {
  let handle;
  try {
    handle = await open(file, "wx", STORE_FILE_MODE);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return;
    throw error;
  }
  try {
    await handle.chmod(STORE_FILE_MODE);
  } finally {
    await handle.close();
  }
}

async function warnIfLoose(path: string, wanted: number, kind: string, logger: Logger): Promise<void> {
  let mode: number;
  try {
    mode = (await stat(path)).mode & 0o777;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
    throw error;
  }
  if ((mode & 0o077) === 0) return;
  logger.warn(
    { path, mode: octal(mode), recommended_mode: octal(wanted) },
    `store ${kind} is accessible to other users; it holds private keys: chmod ${octal(wanted)} ${path}`,
  );
}

function octal(mode: number): string {
  return `0${mode.toString(8).padStart(3, "0")}`;
}
