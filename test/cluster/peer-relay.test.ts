import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { startBackend, echoHandler, type Echo, echoed } from "../helpers/backend.js";
import { pollUntil } from "../helpers/poll-until.js";
import { createTestPgDatabase, pgSkip } from "../helpers/postgres.js";
import { startClientProcess } from "../helpers/server-process.js";
import { visit } from "../helpers/visit.js";
import { within } from "../helpers/within.js";
import { startPeerServer, type PeerServer } from "./peer-cluster.js";

const DOMAIN = "relayed.example.test";

async function answers200(server: PeerServer, http2 = false): Promise<boolean> {
  const answer = await visit(server.httpsPort, DOMAIN, "/ready", { http2, timeoutMs: 10_000 }).catch(
    () => undefined,
  );
  return answer?.status === 200;
}

/** The server's peer log lines, for failure messages. */
function peerLog(server: PeerServer): string {
  return JSON.stringify(server.process.lines.filter((l) => l.component === "peer"));
}

function* chunks(count: number, bytes: number): Generator<Buffer> {
  for (let i = 0; i < count; i++) yield Buffer.alloc(bytes, 97 + (i % 26));
}

describe("peer link and relay (docs/scale-out.md)", { skip: pgSkip() }, () => {
  it("three servers on one database, one client on A: B and C answer over h1 and h2 with streamed bodies; a killed non-holder costs nothing; a server added later serves", async (t) => {
    const database = await createTestPgDatabase(t);
    const backend = await startBackend(t, echoHandler);
    const a = await startPeerServer(t, database.dsn);
    const b = await startPeerServer(t, database.dsn);
    const c = await startPeerServer(t, database.dsn);
    const key = await a.register(DOMAIN);
    startClientProcess(t, {
      serverPort: a.httpsPort,
      caFile: a.caFile,
      domain: DOMAIN,
      apiKey: key,
      backendUrl: backend.url,
    });
    for (const server of [a, b, c])
      await pollUntil(
        () => answers200(server),
        30_000,
        () => `port ${server.httpsPort} never answered 200: ${peerLog(server)}`,
        200,
      );

    for (const server of [b, c])
      for (const http2 of [false, true]) {
        const answer = await visit(server.httpsPort, DOMAIN, "/echo?x=1", {
          http2,
          method: "POST",
          headers: { "x-visitor": "kept" },
          body: chunks(64, 16 * 1024),
        });
        assert.equal(answer.status, 200, answer.body.toString());
        const echo = JSON.parse(answer.body.toString()) as Echo;
        assert.equal(echo.method, "POST");
        assert.equal(echo.url, "/echo?x=1");
        assert.equal(echo.bodyLength, 64 * 16 * 1024, "the streamed body arrives whole");
        assert.deepEqual(echoed(echo, "x-visitor"), ["kept"]);
        assert.deepEqual(echoed(echo, "host"), [DOMAIN]);
        assert.deepEqual(
          echoed(echo, "x-forwarded-for"),
          ["127.0.0.1"],
          "the visitor's address, not a server's",
        );
      }

    c.process.child.kill("SIGKILL");
    await c.process.exited;
    for (const server of [a, b])
      for (let i = 0; i < 5; i++) {
        const answer = await within(
          visit(server.httpsPort, DOMAIN, "/after-kill"),
          "a request after C was killed",
        );
        assert.equal(answer.status, 200);
      }

    const d = await startPeerServer(t, database.dsn);
    await pollUntil(
      () => answers200(d, true),
      30_000,
      () => "the server added later never answered 200",
      200,
    );
  });
});
