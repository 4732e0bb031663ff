import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { join } from "node:path";
import { describe, it } from "node:test";
import { promisify } from "node:util";

const run = promisify(execFile);

describe("logging to stdout", () => {
  it("writes each line before the log call returns, with no thread-pool write left pending", async () => {
    const fixture = join(import.meta.dirname, "../fixtures/stdout-logging-process.ts");
    const { stdout, stderr } = await run(process.execPath, ["--import", "tsx", fixture], { timeout: 20_000 });
    const lines = stdout
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    assert.deepEqual(
      lines.map((line) => line.n),
      [0, 1, 2],
    );
    assert.deepEqual(JSON.parse(stderr), { pendingFsRequests: 0 });
  });
});
