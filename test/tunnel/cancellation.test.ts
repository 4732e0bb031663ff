import assert from "node:assert/strict";
import { once } from "node:events";
import type { IncomingMessage } from "node:http";
import http2 from "node:http2";
import https from "node:https";
import { describe, it, type TestContext } from "node:test";
import { startBackend } from "../helpers/backend.js";
import { startGateway, startTestClient } from "../helpers/gateway.js";
import { tlsFixture } from "../helpers/tls-fixture.js";
import { within } from "../helpers/within.js";

/** A backend that holds each request open and reports when the request is aborted. */
async function holdingBackend(t: TestContext, sendHead: boolean) {
  let arrived!: () => void;
  let aborted!: (atMs: number) => void;
  const seen = new Promise<void>((resolve) => (arrived = resolve));
  const closed = new Promise<number>((resolve) => (aborted = resolve));
  const backend = await startBackend(t, (req, res) => {
    if (sendHead) {
      res.writeHead(200, { "content-type": "text/plain" });
      res.write("first bytes\n");
    }
    res.on("close", () => {
      if (!res.writableFinished) aborted(Date.now());
    });
    req.resume();
    arrived();
  });
  return { backend, seen, closed };
}

describe("cancellation", () => {
  for (const phase of ["waiting for the response head", "reading the response body"] as const) {
    it(`aborts the backend request within 1 s when an HTTP/1.1 visitor disconnects while ${phase}`, async (t) => {
      const gateway = await startGateway(t);
      const { backend, seen, closed } = await holdingBackend(t, phase === "reading the response body");
      const key = await gateway.register("cancel.example.test");
      await startTestClient(t, gateway, "cancel.example.test", key, [`web=${backend.url}`]).connected;
      const request = https.request({
        host: "127.0.0.1",
        port: gateway.port,
        path: "/hold",
        servername: "cancel.example.test",
        headers: { host: "cancel.example.test" },
        ca: tlsFixture().cert,
        agent: false,
      });
      request.on("error", () => undefined);
      request.end();
      await within(seen, "the request to reach the backend");
      if (phase === "reading the response body") await within(once(request, "response"), "the response");
      const disconnectedAt = Date.now();
      request.destroy();
      const abortedAt = await within(closed, "the backend request to be aborted");
      t.diagnostic(`backend saw the abort ${abortedAt - disconnectedAt} ms after the visitor left`);
      assert.ok(abortedAt - disconnectedAt < 1000, `backend aborted after ${abortedAt - disconnectedAt} ms`);
    });
  }

  it("aborts the backend request within 1 s when an HTTP/2 visitor resets its stream", async (t) => {
    const gateway = await startGateway(t);
    const { backend, seen, closed } = await holdingBackend(t, true);
    const key = await gateway.register("cancel2.example.test");
    await startTestClient(t, gateway, "cancel2.example.test", key, [`web=${backend.url}`]).connected;
    const session = http2.connect(`https://127.0.0.1:${gateway.port}`, {
      ca: tlsFixture().cert,
      servername: "cancel2.example.test",
    });
    t.after(() => session.destroy());
    const stream = session.request({ ":path": "/hold", ":authority": "cancel2.example.test" });
    stream.on("error", () => undefined);
    await within(seen, "the request to reach the backend");
    await within(once(stream, "response"), "the response");
    const resetAt = Date.now();
    stream.close(http2.constants.NGHTTP2_CANCEL);
    const abortedAt = await within(closed, "the backend request to be aborted");
    assert.ok(abortedAt - resetAt < 1000, `backend aborted after ${abortedAt - resetAt} ms`);
  });

  for (const framing of ["content-length", "chunked"] as const) {
    it(`aborts the visitor's response when the backend dies mid-body (${framing}), never ending it cleanly`, async (t) => {
      const gateway = await startGateway(t);
      const backend = await startBackend(t, (_req, res) => {
        res.writeHead(200, framing === "content-length" ? { "content-length": "1000000" } : {});
        res.write(Buffer.alloc(100_000, 97));
        setTimeout(() => res.socket?.destroy(), 100);
      });
      const key = await gateway.register("die.example.test");
      await startTestClient(t, gateway, "die.example.test", key, [`web=${backend.url}`]).connected;

      const h1 = await new Promise<{ received: number; outcome: string }>((resolve) => {
        const request = https.request({
          host: "127.0.0.1",
          port: gateway.port,
          path: "/",
          servername: "die.example.test",
          headers: { host: "die.example.test" },
          ca: tlsFixture().cert,
          agent: false,
        });
        request.on("error", () => resolve({ received: -1, outcome: "request error" }));
        request.on("response", (response: IncomingMessage) => {
          let received = 0;
          response.on("data", (chunk: Buffer) => (received += chunk.length));
          response.on("end", () => resolve({ received, outcome: "clean end" }));
          response.on("aborted", () => resolve({ received, outcome: "aborted" }));
          response.on("error", () => resolve({ received, outcome: "aborted" }));
        });
        request.end();
      });
      assert.equal(h1.outcome, "aborted", `HTTP/1.1 visitor got ${h1.received} bytes and a ${h1.outcome}`);

      const session = http2.connect(`https://127.0.0.1:${gateway.port}`, {
        ca: tlsFixture().cert,
        servername: "die.example.test",
      });
      t.after(() => session.destroy());
      const stream = session.request({ ":path": "/", ":authority": "die.example.test" });
      stream.on("error", () => undefined);
      stream.resume();
      await new Promise((resolve) => stream.once("close", resolve));
      assert.notEqual(
        stream.rstCode,
        http2.constants.NGHTTP2_NO_ERROR,
        "HTTP/2 stream must be reset, not ended",
      );
    });
  }
});
