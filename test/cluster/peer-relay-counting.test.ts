import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createLogger } from "../../src/lib/logger.js";
import { echoHandler, startBackend } from "../helpers/backend.js";
import { startGateway, startTestClient, type Gateway } from "../helpers/gateway.js";
import { pollUntil } from "../helpers/poll-until.js";
import { createTestPgDatabase, pgSkip } from "../helpers/postgres.js";
import { sampleLines } from "../helpers/prometheus-text.js";
import { visit } from "../helpers/visit.js";

const DOMAIN = "counted.example.test";

/** Sum of every sample of `metric` for `domain` in the server's scrape. */
async function counted(gateway: Gateway, metric: string): Promise<number> {
  const scrape = await fetch(`http://127.0.0.1:${gateway.server.metricsPort}/metrics`).then((r) => r.text());
  return sampleLines(scrape)
    .filter((line) => line.startsWith(`${metric}{`) && line.includes(`domain="${DOMAIN}"`))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(" ") + 1)), 0);
}

/** A server's JSON log lines, kept in memory. */
function capturedLogger(): {
  lines: Array<Record<string, unknown>>;
  logger: ReturnType<typeof createLogger>;
} {
  const lines: Array<Record<string, unknown>> = [];
  const logger = createLogger({
    level: "info",
    destination: { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) },
  });
  return { lines, logger };
}

describe("counting relayed requests (docs/scale-out.md)", { skip: pgSkip() }, () => {
  it("a request relayed from B to the tunnel on A counts once in hopgate_http_requests_total summed over both; A logs it as relayed by B", async (t) => {
    const database = await createTestPgDatabase(t);
    const backend = await startBackend(t, echoHandler);
    const flags = { dbDsn: database.dsn, peerListen: "127.0.0.1:0" };
    const logA = capturedLogger();
    const logB = capturedLogger();
    const a = await startGateway(t, flags, logA.logger);
    const b = await startGateway(t, flags, logB.logger);
    const key = await a.register(DOMAIN);
    const client = startTestClient(t, a, DOMAIN, key, [`web=${backend.url}`]);
    await client.connected;
    await pollUntil(
      async () =>
        (await visit(b.port, DOMAIN, "/ready", { timeoutMs: 10_000 }).catch(() => undefined))?.status === 200,
      30_000,
      () => "B never relayed to the tunnel on A",
      200,
    );

    const total = async () =>
      (await counted(a, "hopgate_http_requests_total")) + (await counted(b, "hopgate_http_requests_total"));
    const before = {
      total: await total(),
      relayedOnA: await counted(a, "hopgate_peer_relayed_requests_total"),
    };
    const answer = await visit(b.port, DOMAIN, "/counted-once");
    assert.equal(answer.status, 200);
    // A's access line is written when its exchange finishes, a moment after B's answer ends.
    await pollUntil(
      () => logA.lines.some((l) => l.msg === "request" && l.path === "/counted-once"),
      10_000,
      () => "A never logged the relayed request",
      50,
    );
    assert.equal((await total()) - before.total, 1, "one visitor request, counted once in the gateway");
    assert.equal(
      (await counted(a, "hopgate_peer_relayed_requests_total")) - before.relayedOnA,
      1,
      "the holder counts its part as relayed",
    );
    assert.equal(await counted(b, "hopgate_peer_relayed_requests_total"), 0, "B relayed nothing to itself");

    const lineOf = (lines: Array<Record<string, unknown>>) =>
      lines.filter((l) => l.msg === "request" && l.path === "/counted-once");
    const [onA] = lineOf(logA.lines);
    const [onB] = lineOf(logB.lines);
    assert.equal(lineOf(logA.lines).length, 1);
    assert.equal(lineOf(logB.lines).length, 1);
    assert.equal(
      onA?.relayed_by,
      b.server.serverId,
      "the holder's line names the server the visitor reached",
    );
    assert.equal(onB?.relayed_by, undefined, "the visitor-facing line is an ordinary one");
    assert.equal(onA?.status, 200);
    assert.equal(onB?.status, 200);
    assert.equal(onA?.request_id, onB?.request_id, "one request id on both lines");
  });
});
