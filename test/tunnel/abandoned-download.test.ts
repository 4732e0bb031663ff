import assert from "node:assert/strict";
import { once } from "node:events";
import http2 from "node:http2";
import net from "node:net";
import { describe, it, type TestContext } from "node:test";
import { startBackend } from "../helpers/backend.js";
import { startGateway, startTestClient, type Gateway } from "../helpers/gateway.js";
import { lifoCleanup } from "../helpers/lifo-cleanup.js";
import { captureLogs, type LogCapture } from "../helpers/log-capture.js";
import { until } from "../helpers/poll-until.js";
import { tlsFixture } from "../helpers/tls-fixture.js";

const DOMAIN = "big.example.test";
const CHUNK = Buffer.alloc(16 * 1024, 97);
/** Wide deadline for a release that the fix makes take about IDLE_TIMEOUT_SECONDS. */
const RELEASE_DEADLINE_MS = 30_000;
const IDLE_TIMEOUT_SECONDS = "2";

/**
 * A gateway whose tunnel leads to a backend streaming 100 MiB per request (a byte every 200 ms
 * on /trickle); counts the aborted downloads.
 */
async function downloadGateway(t: TestContext, logs: LogCapture) {
  const gateway = await startGateway(t, { idleTimeoutSeconds: IDLE_TIMEOUT_SECONDS }, logs.logger);
  let backendAborted = 0;
  const backend = await startBackend(t, (req, res) => {
    res.writeHead(200, { "content-type": "application/octet-stream" });
    if (req.url === "/trickle") {
      // A byte every 200 ms, forever: keeps its visitor's connection busy.
      const timer = setInterval(() => res.write("."), 200);
      return void res.on("close", () => clearInterval(timer));
    }
    let sent = 0;
    const pump = () => {
      while (sent < 100 * 1024 * 1024) {
        sent += CHUNK.length;
        if (!res.write(CHUNK)) return void res.once("drain", pump);
      }
      res.end();
    };
    res.on("close", () => {
      if (!res.writableFinished && req.url === "/big") backendAborted++;
    });
    pump();
  });
  const key = await gateway.register(DOMAIN);
  await startTestClient(t, gateway, DOMAIN, key, [`web=${backend.url}`]).connected;
  return { gateway, backendAborted: () => backendAborted };
}

function streamsInFlight(gateway: Gateway): number {
  return gateway.server.registry.all().reduce((sum, session) => sum + session.inFlight, 0);
}

/**
 * A TCP front between the visitor and the gateway that reads the gateway's side slowly (10 KB
 * every 100 ms), as `curl --limit-rate 100K` reads its socket: the gateway's socket buffers fill.
 */
async function slowReadingFront(t: TestContext, gatewayPort: number): Promise<number> {
  const cleanup = lifoCleanup(t);
  const sockets = new Set<net.Socket>();
  const front = net.createServer((visitor) => {
    const upstream = net.connect(gatewayPort, "127.0.0.1");
    for (const socket of [visitor, upstream]) {
      sockets.add(socket);
      socket.on("error", () => undefined);
      socket.on("close", () => sockets.delete(socket));
    }
    visitor.pipe(upstream);
    upstream.pause();
    const timer = setInterval(() => {
      const chunk = (upstream.read(10_000) as Buffer | null) ?? (upstream.read() as Buffer | null);
      if (chunk) visitor.write(chunk);
    }, 100);
    // The visitor leaves: its side of the front goes with it, unread bytes and all (a reset).
    visitor.on("close", () => {
      clearInterval(timer);
      upstream.destroy();
    });
    upstream.on("close", () => clearInterval(timer));
  });
  front.listen(0, "127.0.0.1");
  await once(front, "listening");
  cleanup(
    () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        front.close(() => resolve());
      }),
  );
  return (front.address() as net.AddressInfo).port;
}

/** The one access line of the download, once written. */
async function accessLine(logs: LogCapture) {
  await until(() => logs.since(0, "request").length > 0, "the access line", RELEASE_DEADLINE_MS);
  return logs.since(0, "request")[0];
}

describe("abandoned HTTP/2 downloads", () => {
  it("releases the stream of a slow reader that left, aborts its backend request and logs client_abort", async (t) => {
    const logs = captureLogs();
    const { gateway, backendAborted } = await downloadGateway(t, logs);
    const frontPort = await slowReadingFront(t, gateway.port);
    const session = http2.connect(`https://127.0.0.1:${frontPort}`, {
      ca: tlsFixture().cert,
      servername: DOMAIN,
      // Like curl: windows so large that only the TCP socket holds the download back.
      settings: { initialWindowSize: 2 ** 31 - 1 },
    });
    t.after(() => session.destroy());
    session.on("error", () => undefined);
    session.on("connect", () => session.setLocalWindowSize(2 ** 31 - 1));
    const stream = session.request({ ":path": "/big", ":authority": DOMAIN });
    stream.on("error", () => undefined);
    await once(stream, "response");
    let received = 0;
    stream.on("data", (chunk: Buffer) => (received += chunk.length));
    await until(() => received > 100_000, "the first 100 KB");
    session.destroy();

    await until(() => streamsInFlight(gateway) === 0, "the stream to be released", RELEASE_DEADLINE_MS);
    await until(() => backendAborted() === 1, "the backend request to be aborted", RELEASE_DEADLINE_MS);
    const line = await accessLine(logs);
    assert.equal(line?.error, "client_abort");
    assert.equal(line?.status, 200);
    assert.equal(line?.remote_addr, "127.0.0.1");
  });

  it("releases a stream its visitor stopped reading while another stream keeps the connection busy", async (t) => {
    const logs = captureLogs();
    const { gateway, backendAborted } = await downloadGateway(t, logs);
    const session = http2.connect(`https://127.0.0.1:${gateway.port}`, {
      ca: tlsFixture().cert,
      servername: DOMAIN,
    });
    t.after(() => session.destroy());
    session.on("error", () => undefined);
    // The connection itself is never idle: only the download makes no progress.
    const busy = session.request({ ":path": "/trickle", ":authority": DOMAIN });
    busy.on("error", () => undefined);
    busy.resume();
    const stream = session.request({ ":path": "/big", ":authority": DOMAIN });
    stream.on("error", () => undefined);
    await once(stream, "response");
    stream.pause();

    await until(() => streamsInFlight(gateway) === 1, "the download to be released", RELEASE_DEADLINE_MS);
    await until(() => backendAborted() === 1, "the backend request to be aborted", RELEASE_DEADLINE_MS);
    const line = await accessLine(logs);
    assert.equal(line?.path, "/big");
    assert.equal(line?.error, "client_abort");
    assert.equal(line?.remote_addr, "127.0.0.1");
    assert.equal(busy.destroyed, false, "the other stream goes on");
    assert.equal(session.destroyed, false, "the visitor's connection stays open; only its stream is reset");
    await until(() => stream.destroyed, "the visitor's stream to be reset", RELEASE_DEADLINE_MS);
    assert.equal(stream.rstCode, http2.constants.NGHTTP2_INTERNAL_ERROR);
  });
});
