import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { startBackend } from "../helpers/backend.js";
import { startGateway, startTestClient } from "../helpers/gateway.js";
import { visit } from "../helpers/visit.js";

describe("waiting for a tunnel (HOP_SERVER_TUNNEL_WAIT_SECONDS)", () => {
  for (const http2 of [false, true]) {
    it(`a request for a registered domain waits for the client that connects meanwhile (${http2 ? "HTTP/2" : "HTTP/1.1"})`, async (t) => {
      const gateway = await startGateway(t, { tunnelWaitSeconds: "10" });
      const key = await gateway.register("late.example.test");
      const backend = await startBackend(t, (_req, res) => res.end("served"));
      const startedAt = Date.now();
      const visiting = visit(gateway.port, "late.example.test", "/", { http2, timeoutMs: 30_000 });
      await sleep(500);
      const client = startTestClient(t, gateway, "late.example.test", key, [`web=${backend.url}`]);
      await client.connected;
      const answer = await visiting;
      t.diagnostic(`answered ${Date.now() - startedAt} ms after it was sent`);
      assert.equal(answer.status, 200);
      assert.equal(answer.body.toString(), "served");
    });
  }

  it("answers 502 when no client comes within the wait (404 for unregistered names)", async (t) => {
    const waiting = await startGateway(t, { tunnelWaitSeconds: "1" });
    await waiting.register("absent.example.test");
    const startedAt = Date.now();
    const late = await visit(waiting.port, "absent.example.test", "/");
    const waitedMs = Date.now() - startedAt;
    const unknown = await visit(waiting.port, "unregistered.example.test", "/");
    t.diagnostic(`502 after ${waitedMs} ms`);
    assert.equal(late.status, 502);
    assert.ok(waitedMs >= 950, `waited for the client (${waitedMs} ms)`);
    assert.equal(unknown.status, 404, "unregistered names are answered at once");
  });
});
