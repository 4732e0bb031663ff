import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { stopAll } from "../../bench/processes.js";
import { runSoak } from "../../bench/soak.js";

/**
 * Generous bound on RSS growth of each process after the 20 s warm-up: what a busy 2-core machine
 * and the garbage collector's heap sizing may add, far below a leak of the traffic it carries (the
 * visitors download hundreds of MiB a minute).
 */
const MAX_RSS_GROWTH_MIB = 64;
/**
 * HTTP/1.1 requests resent on a keep-alive connection the server closed as they went out (RFC
 * 9112 §9.3.1): legitimate when an idle connection times out, none at all in this minute of
 * back-to-back traffic on a quiet machine. A server that closed reused connections would turn a
 * large share into resends, which the visitors' retry would otherwise hide.
 */
const MAX_RESENT_SHARE = 0.001;

describe("soak (the bench:soak code, 60 s)", () => {
  it("carries 100 concurrent visitors of small, 1 MiB, event-stream and WebSocket traffic over 3 tunnels without an error", async (t) => {
    t.after(() => stopAll());
    const report = await runSoak({
      durationSeconds: 60,
      concurrency: 100,
      domains: 3,
      intervalSeconds: 10,
      warmupSeconds: 20,
    });
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
    t.diagnostic(`${report.bodiesVerified} bodies matched the SHA-256 of what the backend sent`);
    t.diagnostic(
      `${report.resentOnClosedIdleConnection} of ${report.http1Requests} HTTP/1.1 requests were resent ` +
        "after their idle keep-alive connection closed",
    );
    const growth = report.rssGrowthAfterWarmupMiB;
    const mib = (value: number | null) => (value === null ? "-" : value.toFixed(1));
    t.diagnostic(
      `RSS growth after ${growth.warmupSeconds} s: server ${mib(growth.server)} MiB, ` +
        `clients ${growth.clients.map(mib).join("/")} MiB`,
    );

    // A body whose digest differs from what the backend sent is an error of its exchange.
    assert.equal(
      report.errors,
      0,
      `errors: ${JSON.stringify(report.errorsByKind)} ${report.errorSamples.join("; ")}`,
    );
    for (const [i, kind] of kinds.entries())
      assert.ok((counts[i] ?? 0) > 0, `some ${kind} exchanges completed`);
    const bodies = (counts[0] ?? 0) + (counts[1] ?? 0) + (counts[2] ?? 0);
    assert.equal(report.bodiesVerified, bodies, "every small, 1 MiB and event-stream body was checked");
    assert.ok(report.http1Requests > 0, "some HTTP/1.1 requests were sent");
    assert.ok(
      report.resentOnClosedIdleConnection <= MAX_RESENT_SHARE * report.http1Requests,
      `${report.resentOnClosedIdleConnection} of ${report.http1Requests} HTTP/1.1 requests were resends`,
    );
    for (const [name, grown] of [
      ["server", growth.server],
      ...growth.clients.map((g, i) => [`client ${i}`, g] as const),
    ] as const) {
      assert.ok(grown !== null, `${name}: RSS sampled after the warm-up`);
      assert.ok(grown <= MAX_RSS_GROWTH_MIB, `${name}: RSS grew ${grown.toFixed(1)} MiB after the warm-up`);
    }
  });
});
