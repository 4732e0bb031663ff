import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ViolationLog } from "../../src/server/tunnel/violation-log.js";
import { captureLogs } from "../helpers/log-capture.js";
import { until } from "../helpers/poll-until.js";

const LINE = "tunnel protocol violation";
const SUMMARY = "tunnel protocol violations not logged";

function violationLog(windowMs: number) {
  const logs = captureLogs();
  const log = new ViolationLog({
    logger: logs.logger,
    fields: { session_id: "s-1", domain: "app.example.test" },
    maxLinesPerWindow: 3,
    windowMs,
  });
  return { logs, log };
}

describe("ViolationLog", () => {
  it("logs the first violations of a window, then their count when the window ends", async () => {
    const { logs, log } = violationLog(300);
    for (let i = 0; i < 10; i++) log.report(`problem ${i}`, `http-${i}`);
    assert.deepEqual(
      logs.since(0, LINE).map((line) => [line.stream_id, line.detail, line.session_id, line.level]),
      [0, 1, 2].map((i) => [`http-${i}`, `problem ${i}`, "s-1", "warn"]),
    );
    assert.deepEqual(logs.since(0, SUMMARY), [], "no count before the window ends");
    await until(() => logs.since(0, SUMMARY).length > 0, "the count at the window's end");
    const [summary] = logs.since(0, SUMMARY);
    assert.equal(summary?.violations, 7);
    assert.equal(summary?.domain, "app.example.test");
    assert.equal(summary?.window_seconds, 0.3);

    // A new window logs again; closing with nothing left unlogged writes no count.
    const from = logs.lines.length;
    log.report("later", "http-20");
    log.close();
    assert.deepEqual(
      logs.lines.slice(from).map((line) => [line.msg, line.stream_id]),
      [[LINE, "http-20"]],
    );
  });

  it("writes the count at once when the session closes before the window ends", () => {
    const { logs, log } = violationLog(3_600_000);
    for (let i = 0; i < 5; i++) log.report("bad frame", undefined);
    log.close();
    assert.equal(logs.since(0, LINE).length, 3);
    assert.deepEqual(
      logs.since(0, SUMMARY).map((line) => line.violations),
      [2],
    );
    log.close();
    assert.equal(logs.since(0, SUMMARY).length, 1, "a second close writes nothing");
  });
});
