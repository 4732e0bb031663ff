import assert from "node:assert/strict";
import { once } from "node:events";
import type { IncomingMessage } from "node:http";
import http2, { type ClientHttp2Session } from "node:http2";
import https from "node:https";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { WebSocket, WebSocketServer } from "ws";
import { startBackend } from "../helpers/backend.js";
import { startGateway, startTestClient } from "../helpers/gateway.js";
import { payload, writePayload } from "../helpers/payload.js";
import { tlsFixture } from "../helpers/tls-fixture.js";
import { visit } from "../helpers/visit.js";
import { within } from "../helpers/within.js";

const MiB = 1024 * 1024;
/**
 * The head-of-line test's own deadline (it needs about 3 s): without per-stream credit the probes
 * wait behind the slow body (100 MiB at 1 KiB/s), and the test fails at its 30 s step deadline,
 * naming the probes, instead of hanging until the suite's 300 s timeout.
 */
const HEAD_OF_LINE_DEADLINE = { timeout: 90_000 };

async function connectHttp2(port: number, host: string): Promise<ClientHttp2Session> {
  const session = http2.connect(`https://127.0.0.1:${port}`, { ca: tlsFixture().cert, servername: host });
  await once(session, "connect");
  return session;
}

function requestOn(session: ClientHttp2Session, host: string, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ":path": path, ":authority": host });
    let body = "";
    stream.setEncoding("utf8").on("data", (chunk: string) => (body += chunk));
    stream.on("end", () => resolve(body));
    stream.on("error", reject);
  });
}

describe("streaming through the tunnel", () => {
  it(
    "does not let a visitor reading 100 MiB at 1 KiB/s delay 20 other requests on the same tunnel",
    HEAD_OF_LINE_DEADLINE,
    async (t) => {
      const gateway = await startGateway(t);
      const backend = await startBackend(t, (req, res) => {
        if (req.url !== "/big") return res.end("small");
        res.writeHead(200, { "content-length": String(100 * MiB) });
        writePayload(res, 100 * MiB);
      });
      const key = await gateway.register("hol.example.test");
      await within(
        startTestClient(t, gateway, "hol.example.test", key, [`web=${backend.url}`]).connected,
        "the client to connect",
      );

      const slow = https.request({
        host: "127.0.0.1",
        port: gateway.port,
        path: "/big",
        servername: "hol.example.test",
        headers: { host: "hol.example.test" },
        ca: tlsFixture().cert,
        agent: false,
      });
      slow.end();
      slow.on("error", () => undefined);
      t.after(() => slow.destroy());
      const [response] = (await within(once(slow, "response"), "the slow visitor's response head")) as [
        IncomingMessage,
      ];
      response.pause();
      let received = 0;
      const trickle = setInterval(() => {
        const chunk = response.read(100) as Buffer | null; // 100 B every 100 ms = 1 KiB/s
        if (chunk) received += chunk.length;
      }, 100);
      t.after(() => {
        clearInterval(trickle);
        response.destroy();
      });
      await sleep(500); // let the slow stream fill every buffer it is allowed to fill

      // Connections first: the probes time the tunnel, not 20 TLS handshakes on a busy machine.
      const sessions = await within(
        Promise.all([0, 1].map(() => connectHttp2(gateway.port, "hol.example.test"))),
        "the probes' HTTP/2 connections",
      );
      t.after(() => sessions.forEach((session) => session.destroy()));
      const probes = Promise.all(
        Array.from({ length: 20 }, async (_, i) => {
          const started = Date.now();
          const probe = await requestOn(
            sessions[i % 2] as ClientHttp2Session,
            "hol.example.test",
            `/probe/${i}`,
          );
          assert.equal(probe, "small", `probe ${i}, answered after ${Date.now() - started} ms`);
          return Date.now() - started;
        }),
      );
      const durations = await within(probes, "20 probes behind the slow visitor (head-of-line blocking?)");
      t.diagnostic(`probe durations (ms): ${durations.join(", ")}`);
      assert.ok(Math.max(...durations) < 1000, `slowest probe took ${Math.max(...durations)} ms`);
      const [session] = gateway.server.registry.list({ domain: "hol.example.test" });
      assert.ok(session, "the tunnel is up");
      // Per-stream credit: the server holds at most a window of the big body, not the body.
      t.diagnostic(`server received ${session.bytesFromClient} bytes of the slow body`);
      assert.ok(
        session.bytesFromClient < 8 * MiB,
        `server received ${session.bytesFromClient} bytes of a body read at 1 KiB/s`,
      );
      assert.ok(received > 0, "the slow visitor is being served");
    },
  );

  it("delivers the first bytes of a slowly sent upload to the backend before the upload ends", async (t) => {
    const gateway = await startGateway(t);
    let firstBytes!: () => void;
    const arrived = new Promise<void>((resolve) => (firstBytes = resolve));
    const backend = await startBackend(t, (req, res) => {
      let length = 0;
      req.on("data", (chunk: Buffer) => {
        length += chunk.length;
        firstBytes();
      });
      req.on("end", () => res.end(String(length)));
    });
    const key = await gateway.register("upload.example.test");
    await startTestClient(t, gateway, "upload.example.test", key, [`web=${backend.url}`]).connected;
    for (const http2 of [false, true]) {
      const body = (async function* () {
        yield Buffer.from("first chunk;");
        await arrived; // the rest is sent only once the backend has seen the first bytes
        yield Buffer.from("second chunk");
      })();
      const response = await visit(gateway.port, "upload.example.test", "/upload", {
        method: "POST",
        body,
        http2,
        timeoutMs: 10_000,
      });
      assert.equal(response.body.toString(), "24", `over ${http2 ? "HTTP/2" : "HTTP/1.1"}`);
    }
  });

  it("delivers each Server-Sent Event as it is written", async (t) => {
    const gateway = await startGateway(t);
    const written: number[] = [];
    const backend = await startBackend(t, (_req, res) => {
      res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
      let n = 0;
      const timer = setInterval(() => {
        written.push(Date.now());
        res.write(`data: event ${n}\n\n`);
        if (++n === 10) {
          clearInterval(timer);
          res.end();
        }
      }, 150);
      res.on("close", () => clearInterval(timer));
    });
    const key = await gateway.register("sse.example.test");
    await startTestClient(t, gateway, "sse.example.test", key, [`web=${backend.url}`]).connected;
    const request = https.request({
      host: "127.0.0.1",
      port: gateway.port,
      path: "/events",
      servername: "sse.example.test",
      headers: { host: "sse.example.test", accept: "text/event-stream" },
      ca: tlsFixture().cert,
      agent: false,
    });
    request.end();
    const [response] = (await once(request, "response")) as [IncomingMessage];
    const delays: number[] = [];
    let buffered = "";
    for await (const chunk of response) {
      buffered += (chunk as Buffer).toString();
      let end: number;
      while ((end = buffered.indexOf("\n\n")) !== -1) {
        const index = Number(/event (\d+)/.exec(buffered.slice(0, end))?.[1]);
        delays.push(Date.now() - (written[index] ?? NaN));
        buffered = buffered.slice(end + 2);
      }
    }
    t.diagnostic(`event delays (ms): ${delays.join(", ")}`);
    assert.equal(delays.length, 10);
    const sorted = [...delays].sort((a, b) => a - b);
    assert.ok(
      (sorted[5] ?? Infinity) < 100,
      `median event delay ${sorted[5]} ms (all: ${delays.join(", ")})`,
    );
    assert.ok((sorted[9] ?? Infinity) < 1000, `slowest event took ${sorted[9]} ms: buffered?`);
  });

  it("carries a WebSocket: text echo and a 1 MiB binary message", async (t) => {
    const gateway = await startGateway(t);
    const backend = await startBackend(t, (_req, res) => res.end("not a websocket"));
    const wss = new WebSocketServer({ server: backend.server });
    wss.on("connection", (socket, req) => {
      socket.send(`hello ${req.headers.host}`);
      socket.on("message", (data, binary) => socket.send(data, { binary }));
    });
    t.after(() => wss.close());
    const key = await gateway.register("ws.example.test");
    await startTestClient(t, gateway, "ws.example.test", key, [`web=${backend.url}`]).connected;
    const tlsOptions = { servername: "ws.example.test", ca: tlsFixture().cert };
    const socket = new WebSocket(`wss://127.0.0.1:${gateway.port}/socket`, {
      headers: { host: "ws.example.test" },
      ...tlsOptions,
    });
    t.after(() => socket.terminate());
    const messages: Array<{ data: Buffer; binary: boolean }> = [];
    socket.on("message", (data: Buffer, binary) => messages.push({ data, binary }));
    await once(socket, "open");
    const next = async (count: number) => {
      while (messages.length < count) await sleep(10);
      return messages[count - 1] as { data: Buffer; binary: boolean };
    };
    assert.equal((await next(1)).data.toString(), "hello ws.example.test");
    socket.send("ping text");
    const text = await next(2);
    assert.equal(text.data.toString(), "ping text");
    assert.equal(text.binary, false);
    const big = Buffer.concat([...payload(MiB)]);
    socket.send(big);
    const echoed = await next(3);
    assert.equal(echoed.binary, true);
    assert.ok(echoed.data.equals(big), "1 MiB binary echoed intact");
    socket.close(1000, "done");
    const [code] = (await once(socket, "close")) as [number];
    assert.equal(code, 1000);
  });
});
