import assert from "node:assert/strict";
import { chmod, mkdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { openDatabase, SQLITE_FILE_NAME } from "../../src/server/store/database.js";
import { createDomainRepository } from "../../src/server/store/domain-repository.js";
import { captureLogs } from "../helpers/log-capture.js";
import { lifoCleanup } from "../helpers/lifo-cleanup.js";
import { tempDir } from "../helpers/temp-dir.js";

const WARNING = /^store (file|directory) is accessible to other users/;

async function modeOf(path: string): Promise<string> {
  return `0${((await stat(path)).mode & 0o777).toString(8)}`;
}

describe("embedded store file modes", () => {
  it("creates a missing data directory 0700 and the store file and its WAL files 0600", async (t) => {
    const defer = lifoCleanup(t);
    const dataDir = join(await tempDir(t), "nested", "data");
    const logs = captureLogs();
    const database = await openDatabase({ dataDir, logger: logs.logger });
    defer(() => database.close());
    // A write, so that SQLite has created its -wal and -shm files.
    await createDomainRepository(database).register("modes.example.test", "file modes");

    const file = join(dataDir, SQLITE_FILE_NAME);
    assert.equal(await modeOf(dataDir), "0700");
    for (const path of [file, `${file}-wal`, `${file}-shm`]) assert.equal(await modeOf(path), "0600", path);
    assert.deepEqual(
      logs.lines.filter((line) => WARNING.test(String(line.msg))),
      [],
    );
  });

  it("warns about an existing directory and file that other users can read, and leaves their modes", async (t) => {
    const defer = lifoCleanup(t);
    const dataDir = join(await tempDir(t), "data");
    const file = join(dataDir, SQLITE_FILE_NAME);
    await mkdir(dataDir);
    await chmod(dataDir, 0o755);
    await writeFile(file, "");
    await chmod(file, 0o644);
    const logs = captureLogs();
    const database = await openDatabase({ dataDir, logger: logs.logger });
    defer(() => database.close());

    const warnings = logs.lines.filter((line) => WARNING.test(String(line.msg)));
    assert.deepEqual(
      warnings.map((line) => [line.level, line.path, line.mode, line.recommended_mode]),
      [
        ["warn", dataDir, "0755", "0700"],
        ["warn", file, "0644", "0600"],
      ],
    );
    assert.equal(await modeOf(dataDir), "0755");
    assert.equal(await modeOf(file), "0644");
  });
});
