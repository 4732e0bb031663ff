import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { stopAll } from "../../bench/processes.js";
import { runSoak } from "../../bench/soak.js";

describe("soak (the bench:soak code, 60 s)", () => {
  it("carries 100 concurrent visitors of small, 1 MiB, event-stream and WebSocket traffic over 3 tunnels without an error", async (t) => {
    t.after(() => stopAll());
    const report = await runSoak({ durationSeconds: 60, concurrency: 100, domains: 3, intervalSeconds: 10 });
    for (const i of report.intervals) {
      const small = i.latencyMs.small;
      t.diagnostic(
        `${i.endSeconds} s: ${i.requests} exchanges, ${i.errors} errors, small p50/p95/p99 ` +
          `${small?.p50}/${small?.p95}/${small?.p99} ms; RSS server ${i.serverRssMiB.toFixed(1)} MiB, ` +
          `clients ${i.clientsRssMiB.map((m) => m.toFixed(1)).join("/")} MiB`,
      );
    }
    const kinds = ["small", "large", "stream", "websocket"];
    const counts = kinds.map((kind) =>
      report.intervals.reduce((n, i) => n + (i.latencyMs[kind]?.count ?? 0), 0),
    );
    t.diagnostic(`${report.requests} exchanges (${kinds.map((k, i) => `${k} ${counts[i]}`).join(", ")})`);

    assert.equal(
      report.errors,
      0,
      `errors: ${JSON.stringify(report.errorsByKind)} ${report.errorSamples.join("; ")}`,
    );
    for (const [i, kind] of kinds.entries())
      assert.ok((counts[i] ?? 0) > 0, `some ${kind} exchanges completed`);
  });
});
