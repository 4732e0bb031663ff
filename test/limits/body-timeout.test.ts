import assert from "node:assert/strict";
import type http from "node:http";
import { describe, it, type TestContext } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { startBackend } from "../helpers/backend.js";
import { startGateway, startTestClient } from "../helpers/gateway.js";
import { captureLogs } from "../helpers/log-capture.js";
import { until } from "../helpers/poll-until.js";
import { rawVisitor } from "../helpers/raw-visitor.js";

const DOMAIN = "app.example.test";
const BODY_BYTES = 1000;

/** Gateway with a 2 s body timeout, a client and a backend that answers once the whole body arrived. */
async function setup(t: TestContext) {
  const logs = captureLogs();
  const gateway = await startGateway(t, { bodyTimeoutSeconds: "2" }, logs.logger);
  const backend = { completed: [] as number[], aborted: 0 };
  const server = await startBackend(t, (req: http.IncomingMessage, res: http.ServerResponse) => {
    let bytes = 0;
    req.on("data", (chunk: Buffer) => (bytes += chunk.length));
    req.on("end", () => {
      backend.completed.push(bytes);
      res.end(`got ${bytes}`);
    });
    req.on("close", () => {
      if (!req.complete) backend.aborted += 1;
    });
  });
  const key = await gateway.register(DOMAIN);
  await startTestClient(t, gateway, DOMAIN, key, [`web=${server.url}`]).connected;
  return { gateway, backend, logs };
}

const head = `POST /upload HTTP/1.1\r\nHost: ${DOMAIN}\r\nContent-Length: ${BODY_BYTES}\r\nConnection: close\r\n\r\n`;

describe("request body idle timeout (nginx client_body_timeout)", () => {
  it("answers 408 to a visitor that stops mid-body and aborts the backend request", async (t) => {
    const { gateway, backend, logs } = await setup(t);
    const visitor = await rawVisitor(gateway.port, DOMAIN);
    visitor.socket.write(head + "x".repeat(BODY_BYTES / 2));
    const outcome = await visitor.outcome(20_000);
    assert.match(outcome.received, /^HTTP\/1\.1 408 Request Timeout\r\n/);
    assert.ok(outcome.closed, "the connection is closed after the 408");
    await until(() => backend.aborted === 1, "the backend sees its request aborted");
    assert.deepEqual(backend.completed, [], "the backend never saw a complete body");
    await until(() => logs.since(0, "request").length === 1, "the access line");
    const line = logs.since(0, "request")[0];
    assert.equal(line?.status, 408);
    assert.equal(line?.error, "request_timeout");
  });

  it("lets a visitor that sends slowly but steadily, longer than the timeout in all, finish", async (t) => {
    const { gateway, backend } = await setup(t);
    const visitor = await rawVisitor(gateway.port, DOMAIN);
    visitor.socket.write(head);
    const chunks = 8; // 8 × 400 ms: longer than the 2 s timeout in all, never idle that long
    for (let i = 0; i < chunks; i += 1) {
      await sleep(400);
      visitor.socket.write("y".repeat(BODY_BYTES / chunks));
    }
    const outcome = await visitor.outcome(20_000);
    assert.match(outcome.received, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(outcome.received, new RegExp(`got ${BODY_BYTES}$`));
    assert.deepEqual(backend.completed, [BODY_BYTES]);
    assert.equal(backend.aborted, 0);
  });
});
