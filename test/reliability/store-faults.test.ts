import assert from "node:assert/strict";
import http2 from "node:http2";
import { describe, it, type TestContext } from "node:test";
import { encodeGrpcMessage } from "../../src/protocol/envelope-encoder.js";
import { isHopGateError } from "../../src/lib/hopgate-error.js";
import { silentLogger } from "../../src/lib/logger.js";
import { openDatabase } from "../../src/server/store/database.js";
import { createDomainRepository } from "../../src/server/store/domain-repository.js";
import { GrpcCode } from "../../src/protocol/grpc-status.js";
import { encodeHello, OPEN_TUNNEL_PATH } from "../../src/protocol/handshake.js";
import { startBackend } from "../helpers/backend.js";
import { startGateway, startTestClient, type Gateway } from "../helpers/gateway.js";
import type { HopgateProcess } from "../helpers/hopgate-process.js";
import { sendRequest } from "../helpers/http-request.js";
import { lifoCleanup } from "../helpers/lifo-cleanup.js";
import { pollUntil } from "../helpers/poll-until.js";
import { cuttablePgDatabase, pgSkip } from "../helpers/postgres.js";
import { tlsFixture } from "../helpers/tls-fixture.js";
import { startClientProcess } from "../helpers/server-process.js";
import { visit } from "../helpers/visit.js";

const ADMIN_KEY = "store-faults-admin-key-0123456789";

/** Status of an admin API request, or "no answer" when none comes within `timeoutMs`. */
async function adminStatus(gateway: Gateway, timeoutMs: number): Promise<number | "no answer"> {
  const answer = sendRequest(`https://127.0.0.1:${gateway.port}/api/v1/admin/domains`, {
    ca: tlsFixture().cert,
    headers: { authorization: `Bearer ${ADMIN_KEY}` },
  }).then((response) => response.status);
  const silence = new Promise<"no answer">((resolve) =>
    setTimeout(() => resolve("no answer"), timeoutMs).unref(),
  );
  return Promise.race([answer, silence]);
}

async function readiness(gateway: Gateway): Promise<{ status: number; failing: unknown }> {
  const response = await fetch(`http://127.0.0.1:${gateway.server.metricsPort}/readyz`);
  const body = (await response.json()) as { failing?: unknown };
  return { status: response.status, failing: body.failing };
}

/** A raw v2 handshake: the gRPC status, reject reason and message the server ends it with. */
async function handshakeStatus(
  t: TestContext,
  gateway: Gateway,
  domain: string,
  apiKey: string,
): Promise<{ code: number; reason: unknown; message: string; afterMs: number }> {
  const startedAtMs = Date.now();
  const session = http2.connect(`https://127.0.0.1:${gateway.port}`, { ca: tlsFixture().cert });
  t.after(() => session.destroy());
  const stream = session.request({
    ":method": "POST",
    ":path": OPEN_TUNNEL_PATH,
    "content-type": "application/grpc",
    te: "trailers",
  });
  let headers: http2.IncomingHttpHeaders = {};
  stream.on("response", (h) => (headers = h));
  stream.on("trailers", (h: http2.IncomingHttpHeaders) => (headers = { ...headers, ...h }));
  stream.resume();
  stream.write(
    encodeGrpcMessage(
      encodeHello({
        domain,
        apiKey,
        localTarget: "",
        services: [{ name: "web", pathPrefix: "/" }],
        clientVersion: "store-faults-test",
      }),
    ),
  );
  await new Promise((resolve) => stream.once("close", resolve));
  session.destroy();
  return {
    code: Number(headers["grpc-status"]),
    reason: headers["hopgate-reject-reason"],
    message: decodeURIComponent(String(headers["grpc-message"] ?? "")),
    afterMs: Date.now() - startedAtMs,
  };
}

interface Retry {
  readonly reason: string;
  readonly retryInMs: number;
}

function retriesOf(client: HopgateProcess): Retry[] {
  return client.lines
    .filter(
      (line) =>
        line.msg === "tunnel down; reconnecting" || line.msg?.toString().startsWith("server rejected"),
    )
    .map((line) => ({ reason: String(line.reason), retryInMs: Number(line.retry_in_ms) }));
}

describe("faults of the store", { skip: pgSkip() }, () => {
  it("with PostgreSQL unreachable (cut, then silent), tunnels keep serving, handshakes fail retryably, the admin API answers 503, and all recovers by itself", async (t) => {
    const postgres = await cuttablePgDatabase(t);
    const gateway = await startGateway(t, {
      dbDsn: postgres.cuttableDsn,
      adminApiKey: ADMIN_KEY,
      handshakeTimeoutSeconds: "3",
    });
    const names = ["steady", "during-cut", "during-stall"].map((name) => `${name}.example.test`);
    const keys = new Map<string, string>();
    for (const name of names) keys.set(name, await gateway.register(name));
    const backend = await startBackend(t, (req, res) => res.end(req.headers.host));
    const steady = startTestClient(t, gateway, names[0]!, keys.get(names[0]!)!, [`web=${backend.url}`]);
    await steady.connected;
    assert.equal(await adminStatus(gateway, 5_000), 200);
    assert.equal((await readiness(gateway)).status, 200);

    for (const [phase, index] of [
      ["cut", 1],
      ["stall", 2],
    ] as const) {
      const domain = names[index]!;
      const key = keys.get(domain)!;
      if (phase === "cut") await postgres.cut();
      else postgres.stall();
      const outageAtMs = Date.now();

      for (let i = 0; i < 5; i++) {
        const response = await visit(gateway.port, names[0]!, "/", {
          timeoutMs: 5_000,
          headers: { accept: "application/json" },
        });
        assert.equal(
          response.status,
          200,
          `${phase}: the established tunnel keeps serving (visit ${i}: ${response.body.toString()})`,
        );
      }
      const refused = await handshakeStatus(t, gateway, domain, key);
      assert.equal(refused.code, GrpcCode.unavailable, `${phase}: ${JSON.stringify(refused)}`);
      assert.ok(
        refused.reason === "unavailable" || refused.reason === "timeout",
        `${phase}: retryable reason, got ${JSON.stringify(refused)}`,
      );
      const adminAtMs = Date.now();
      const admin = await adminStatus(gateway, 20_000);
      const adminMs = Date.now() - adminAtMs;
      assert.equal(admin, 503, `${phase}: the admin API answers 503`);
      const readyAtMs = Date.now();
      const ready = await readiness(gateway);
      const readyMs = Date.now() - readyAtMs;
      assert.equal(ready.status, 503);
      assert.deepEqual(ready.failing, ["store"]);

      const client = startClientProcess(t, {
        serverPort: gateway.port,
        caFile: gateway.caFile,
        domain,
        apiKey: key,
        backendUrl: backend.url,
      });
      await pollUntil(
        () => retriesOf(client).length >= 2,
        20_000,
        () => `${phase}: the client did not retry`,
      );
      for (const retry of retriesOf(client)) {
        assert.match(retry.reason, /retry shortly \((unavailable|timeout)\)$/, `${phase}: ${retry.reason}`);
        assert.ok(retry.retryInMs <= 30_000, `${phase}: a short backoff, not the rejected-key wait`);
      }
      t.diagnostic(
        `${phase}: handshake refused ${refused.code} (${String(refused.reason)}) after ${refused.afterMs} ms; ` +
          `admin 503 in ${adminMs} ms, /readyz 503 in ${readyMs} ms; client retried in ${retriesOf(client)
            .map((r) => r.retryInMs)
            .join(", ")} ms`,
      );

      await postgres.restore();
      const restoredAtMs = Date.now();
      const [acceptedMs, adminBackMs, readyBackMs] = await Promise.all([
        client.waitForLine((line) => line.msg === "tunnel accepted", 40_000).then(() => Date.now()),
        pollUntil(
          async () => (await adminStatus(gateway, 15_000)) === 200,
          30_000,
          () => "admin 200",
        ),
        pollUntil(
          async () => (await readiness(gateway)).status === 200,
          30_000,
          () => "ready",
        ),
      ]).then((times) => times.map((atMs) => atMs - restoredAtMs));
      assert.equal((await visit(gateway.port, domain, "/")).body.toString(), domain);
      t.diagnostic(
        `${phase}: outage ${restoredAtMs - outageAtMs} ms; after the store returned, the new client ` +
          `connected in ${acceptedMs} ms, admin answered 200 in ${adminBackMs} ms, /readyz 200 in ${readyBackMs} ms`,
      );
    }
    assert.equal((await visit(gateway.port, names[0]!, "/")).status, 200);
  });
  it("fails a query on a silently dead PostgreSQL connection within the query timeout and closes that connection", async (t) => {
    const cleanup = lifoCleanup(t);
    const postgres = await cuttablePgDatabase(cleanup);
    const store = await openDatabase({
      dsn: postgres.cuttableDsn,
      dataDir: "",
      logger: silentLogger(),
      queryTimeoutMs: 500,
    });
    cleanup(() => store.close());
    const domains = createDomainRepository(store);
    await domains.register("dead-line.example.test", "");
    assert.equal(postgres.openConnections, 1, "one pooled connection");

    postgres.stall();
    const startedAtMs = Date.now();
    await assert.rejects(domains.find("dead-line.example.test"), (error) =>
      isHopGateError(error, "unavailable"),
    );
    const failedMs = Date.now() - startedAtMs;
    t.diagnostic(`the query failed ${failedMs} ms into the stall (query timeout 500 ms)`);
    assert.ok(failedMs < 3_000, `failed after ${failedMs} ms`);
    await pollUntil(
      () => postgres.openConnections === 0,
      2_000,
      () => "the dead connection was not closed",
    );

    await postgres.restore();
    assert.equal((await domains.find("dead-line.example.test"))?.domain, "dead-line.example.test");
  });
});
