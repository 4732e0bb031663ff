import assert from "node:assert/strict";
import type { ServerResponse } from "node:http";
import { describe, it, type TestContext } from "node:test";
import type { TunnelSession } from "../../src/server/tunnel/session.js";
import { startBackend } from "../helpers/backend.js";
import { startGateway, startTestClient, type Gateway } from "../helpers/gateway.js";
import type { HopgateProcess } from "../helpers/hopgate-process.js";
import { pollUntil } from "../helpers/poll-until.js";
import { timedVisit } from "../helpers/timed-visit.js";
import { startClientProcess } from "../helpers/server-process.js";
import { visit } from "../helpers/visit.js";

/** `hopgate client` for `domain` with one service `web` → `backendUrl`, as a real process. */
function clientProcess(
  t: TestContext,
  gateway: Gateway,
  domain: string,
  key: string,
  backendUrl: string,
): HopgateProcess {
  return startClientProcess(t, {
    serverPort: gateway.port,
    caFile: gateway.caFile,
    domain,
    apiKey: key,
    backendUrl,
  });
}

const accepted = (line: Record<string, unknown>) => line.msg === "tunnel accepted";

/** Writes a chunk every 100 ms for `forMs`, then ends; stops when the exchange is torn down. */
function trickle(res: ServerResponse, forMs: number): void {
  res.writeHead(200, { "content-type": "text/plain" });
  res.write("first\n");
  const interval = setInterval(() => res.write("more\n"), 100);
  const end = setTimeout(() => {
    clearInterval(interval);
    res.end("last\n");
  }, forMs);
  res.on("close", () => {
    clearInterval(interval);
    clearTimeout(end);
  });
}

/** Answers only after `afterMs` (or never, when the exchange is torn down first). */
function lateHead(res: ServerResponse, afterMs: number): void {
  const timer = setTimeout(() => res.end("late"), afterMs);
  res.on("close", () => clearTimeout(timer));
}

function sessionsOf(gateway: Gateway, domain: string): TunnelSession[] {
  return gateway.server.registry.all().filter((session) => session.domain === domain);
}

describe("faults", () => {
  it("a client killed with SIGKILL under 50 requests: in-flight ones end at once (502 before the head, abort after), later ones go to the other client or get 502, no session or stream is left", async (t) => {
    const gateway = await startGateway(t);
    const domain = "killed.example.test";
    const key = await gateway.register(domain);
    const arrivals = { lateHead: 0, trickle: 0 };
    const victimBackend = await startBackend(t, (req, res) => {
      if (req.url === "/late-head") {
        arrivals.lateHead++;
        return lateHead(res, 30_000);
      }
      arrivals.trickle++;
      trickle(res, 30_000);
    });
    const survivorBackend = await startBackend(t, (_req, res) => res.end("survivor"));

    const victim = clientProcess(t, gateway, domain, key, victimBackend.url);
    await victim.waitForLine(accepted);
    const [victimSession] = sessionsOf(gateway, domain);
    assert.ok(victimSession, "the victim's session is registered");

    // 25 requests waiting for their head, 25 whose bodies trickle: both phases are in flight.
    const inFlight = Array.from({ length: 50 }, (_, i) =>
      timedVisit(gateway.port, domain, i % 2 === 0 ? "/late-head" : "/trickle"),
    );
    await Promise.all(inFlight.filter((_, i) => i % 2 === 1).map((request) => request.head));
    await pollUntil(
      () => arrivals.lateHead === 25 && victimSession.inFlight === 50,
      15_000,
      () => `in flight: ${victimSession.inFlight} streams, ${arrivals.lateHead} late-head arrivals`,
    );

    // The survivor connects only now, so that every one of the 50 rides on the victim.
    const survivor = clientProcess(t, gateway, domain, key, survivorBackend.url);
    await survivor.waitForLine(accepted);
    await pollUntil(
      () => sessionsOf(gateway, domain).length === 2,
      5_000,
      () => "the survivor is registered",
    );

    const killedAtMs = Date.now();
    victim.child.kill("SIGKILL");
    const outcomes = await Promise.all(inFlight.map((request) => request.done));
    const lastEndMs = Math.max(...outcomes.map((o) => o.endedAtMs)) - killedAtMs;

    const beforeHead = outcomes.filter((_, i) => i % 2 === 0);
    const afterHead = outcomes.filter((_, i) => i % 2 === 1);
    for (const outcome of beforeHead) {
      assert.equal(outcome.outcome, "complete", "a request without a head gets a whole error page");
      assert.equal(outcome.status, 502);
    }
    for (const outcome of afterHead) {
      assert.equal(outcome.status, 200);
      assert.ok(outcome.headAtMs !== undefined && outcome.headAtMs < killedAtMs, "the head came first");
      assert.equal(outcome.outcome, "aborted", "a broken body is never ended as if complete");
    }
    t.diagnostic(`all 50 in-flight requests ended within ${lastEndMs} ms of the SIGKILL`);
    assert.ok(lastEndMs < 2_000, `in-flight requests took ${lastEndMs} ms to end`);

    assert.equal(victimSession.state.t, "closed", "the victim's session is closed");
    assert.equal(victimSession.inFlight, 0, "the victim's stream table is empty");
    const remaining = sessionsOf(gateway, domain);
    assert.equal(remaining.length, 1, "only the survivor's session is left");

    const later = await Promise.all(
      Array.from({ length: 20 }, () => visit(gateway.port, domain, "/", { timeoutMs: 10_000 })),
    );
    for (const response of later) {
      assert.equal(response.status, 200);
      assert.equal(response.body.toString(), "survivor", "later requests go to the other client");
    }

    const survivorKilledAtMs = Date.now();
    survivor.child.kill("SIGKILL");
    const droppedAtMs = await pollUntil(
      () => gateway.server.registry.size === 0,
      5_000,
      () => `${gateway.server.registry.size} sessions left after both clients died`,
    );
    const startedAtMs = Date.now();
    const orphan = await visit(gateway.port, domain, "/", { timeoutMs: 10_000 });
    const orphanMs = Date.now() - startedAtMs;
    assert.equal(orphan.status, 502, "with no client left, a request gets the 502 page");
    assert.ok(orphanMs < 2_000, `the 502 took ${orphanMs} ms`);
    assert.equal(remaining[0]?.inFlight, 0, "the survivor's stream table is empty");
    t.diagnostic(
      `survivor's session dropped ${droppedAtMs - survivorKilledAtMs} ms after its SIGKILL; ` +
        `a request then got 502 in ${orphanMs} ms`,
    );

    const scrape = await (await fetch(`http://127.0.0.1:${gateway.server.metricsPort}/metrics`)).text();
    assert.match(scrape, /^hopgate_streams_in_flight 0$/m);
    assert.doesNotMatch(scrape, /^hopgate_tunnels_active\{[^}]*\} [1-9]/m);
  });
  it("a hanging backend gets 504 at the proxy timeout while the same tunnel serves other requests; the stream is released and the backend request aborted", async (t) => {
    const gateway = await startGateway(t, { proxyTimeoutSeconds: "1" });
    const domain = "hang.example.test";
    const key = await gateway.register(domain);
    const hung: { arrivedAtMs?: number; closedAtMs?: number } = {};
    const backend = await startBackend(t, (req, res) => {
      if (req.url !== "/hang") return res.end("fast");
      hung.arrivedAtMs = Date.now();
      res.on("close", () => (hung.closedAtMs = Date.now()));
    });
    const client = startTestClient(t, gateway, domain, key, [`web=${backend.url}`]);
    await client.connected;
    const tunnel = (await client.handle).tunnel;
    const [session] = sessionsOf(gateway, domain);
    assert.ok(session);

    const hanging = timedVisit(gateway.port, domain, "/hang");
    await pollUntil(
      () => hung.arrivedAtMs !== undefined,
      5_000,
      () => "the hanging request reached the backend",
    );
    let servedMeanwhile = 0;
    let hangEnded = false;
    void hanging.done.then(() => (hangEnded = true));
    while (!hangEnded) {
      const response = await visit(gateway.port, domain, "/fast", { timeoutMs: 5_000 });
      assert.equal(response.status, 200);
      assert.equal(response.body.toString(), "fast");
      if (!hangEnded) servedMeanwhile++;
    }
    const outcome = await hanging.done;
    const waitedMs = outcome.endedAtMs - outcome.startedAtMs;
    assert.equal(outcome.status, 504);
    assert.equal(outcome.outcome, "complete", "the 504 is a whole page");
    assert.ok(waitedMs >= 1_000 && waitedMs < 3_500, `504 after ${waitedMs} ms, proxy timeout 1 s`);
    assert.ok(servedMeanwhile >= 3, `only ${servedMeanwhile} requests were served while one hung`);

    const releasedAtMs = await pollUntil(
      () => session.inFlight === 0 && tunnel.current?.inFlight === 0 && hung.closedAtMs !== undefined,
      3_000,
      () =>
        `after the 504: ${session.inFlight} server streams, ${tunnel.current?.inFlight} client streams, ` +
        `backend request ${hung.closedAtMs === undefined ? "still open" : "closed"}`,
    );
    t.diagnostic(
      `504 after ${waitedMs} ms (timeout 1 s); ${servedMeanwhile} requests served meanwhile; ` +
        `backend request aborted ${(hung.closedAtMs ?? 0) - outcome.endedAtMs} ms after the 504, ` +
        `streams released within ${releasedAtMs - outcome.endedAtMs} ms`,
    );
    assert.equal(session.state.t, "active", "the tunnel stays up");
  });
  it("a client that stops answering (SIGSTOP) is dropped within ping interval + timeout, and serves again after SIGCONT", async (t) => {
    const gateway = await startGateway(t, { pingIntervalSeconds: "1", pingTimeoutSeconds: "2" });
    const domain = "frozen.example.test";
    const key = await gateway.register(domain);
    const backend = await startBackend(t, (req, res) => {
      if (req.url === "/slow") lateHead(res, 500);
      else res.end("awake");
    });
    const client = clientProcess(t, gateway, domain, key, backend.url);
    await client.waitForLine(accepted);
    const [frozen] = sessionsOf(gateway, domain);
    assert.ok(frozen);
    assert.equal((await visit(gateway.port, domain, "/")).status, 200);

    const stuck = timedVisit(gateway.port, domain, "/slow");
    await pollUntil(
      () => frozen.inFlight === 1,
      5_000,
      () => "the request is in flight",
    );
    const stoppedAtMs = Date.now();
    client.child.kill("SIGSTOP");
    try {
      const droppedAtMs = await pollUntil(
        () => gateway.server.registry.size === 0,
        10_000,
        () => "the frozen client's session was not dropped",
      );
      const detectMs = droppedAtMs - stoppedAtMs;
      const outcome = await stuck.done;
      assert.equal(outcome.status, 502, "the request in flight gets 502 when the session drops");
      assert.ok(outcome.endedAtMs - droppedAtMs < 1_000, "... at the drop, not at the proxy timeout");
      assert.equal(frozen.state.t, "closed");
      assert.equal(frozen.inFlight, 0, "the dropped session's stream table is empty");
      t.diagnostic(`SIGSTOPped client dropped ${detectMs} ms after the stop (ping 1 s, timeout 2 s)`);
      // A ping goes out at most 1 s after the stop and is given 2 s: 3 s, plus a margin.
      assert.ok(detectMs < 5_000, `detected after ${detectMs} ms`);
    } finally {
      client.child.kill("SIGCONT");
    }
    const continuedAtMs = Date.now();
    const servedAtMs = await pollUntil(
      async () =>
        (await visit(gateway.port, domain, "/", { timeoutMs: 2_000 }).catch(() => undefined))?.status === 200,
      15_000,
      () => "the client did not serve again after SIGCONT",
    );
    const [revived] = sessionsOf(gateway, domain);
    assert.ok(revived && revived !== frozen, "a new session serves");
    t.diagnostic(`served again ${servedAtMs - continuedAtMs} ms after SIGCONT`);
  });
});
