import assert from "node:assert/strict";
import { once } from "node:events";
import { connect, type Socket } from "node:net";
import { describe, it, type TestContext } from "node:test";
import { loadConfig } from "../../src/config/load-config.js";
import { serverSettings } from "../../src/config/server-settings.js";
import {
  autoMaxConnections,
  BYTES_PER_CONNECTION,
  resolveMaxConnections,
} from "../../src/server/limits/connection-cap.js";
import { startGateway, type Gateway } from "../helpers/gateway.js";
import { sendRequest } from "../helpers/http-request.js";
import { pollUntil } from "../helpers/poll-until.js";
import { sampleValue } from "../helpers/prometheus-text.js";
import { tlsFixture } from "../helpers/tls-fixture.js";

/** Wide: a busy 2-core machine must not fail these; a missing feature never closes at all. */
const CLOSE_DEADLINE_MS = 30_000;
const MiB = 1024 * 1024;

/** A plain TCP connection to the TLS port that never starts a handshake; destroyed when the test ends. */
async function idleConnection(t: TestContext, port: number): Promise<Socket> {
  const socket = connect({ host: "127.0.0.1", port });
  t.after(() => socket.destroy());
  socket.on("error", () => {});
  await once(socket, "connect");
  return socket;
}

/** Resolves with the bytes received once the server closes `socket`; rejects after the deadline. */
function closedByServer(socket: Socket): Promise<number> {
  let received = 0;
  socket.on("data", (chunk: Buffer) => (received += chunk.length));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error("the server kept the connection open")),
      CLOSE_DEADLINE_MS,
    );
    socket.once("close", () => {
      clearTimeout(timer);
      resolve(received);
    });
  });
}

async function dropped(gateway: Gateway, reason: string): Promise<number | undefined> {
  const text = await (await fetch(`http://127.0.0.1:${gateway.server.metricsPort}/metrics`)).text();
  return sampleValue(text, `hopgate_connections_dropped_total{reason="${reason}"}`);
}

function visit(gateway: Gateway) {
  return sendRequest(`https://127.0.0.1:${gateway.port}/`, {
    ca: tlsFixture().cert,
    headers: { host: "nobody.example.test" },
  });
}

describe("the open-connection cap (HOP_SERVER_MAX_CONNECTIONS)", () => {
  it("closes connections past the cap at once, counts them, and serves again once one closes", async (t) => {
    const gateway = await startGateway(t, { maxConnections: "3", tlsHandshakeTimeoutSeconds: "300" });
    const held = [];
    for (let i = 0; i < 3; i++) held.push(await idleConnection(t, gateway.port));

    const extra = await idleConnection(t, gateway.port);
    assert.equal(await closedByServer(extra), 0, "the connection past the cap gets no byte");
    assert.equal(await dropped(gateway, "max_connections"), 1);
    assert.equal(await dropped(gateway, "handshake_timeout"), 0);

    held[0]!.destroy();
    // The server learns of the close a moment later: until then a visitor may still be dropped.
    await pollUntil(
      async () => (await visit(gateway).catch(() => undefined))?.status === 404,
      CLOSE_DEADLINE_MS,
      () => "no request answered after a held connection closed",
      100,
    );
  });

  it("closes a connection that does not complete its TLS handshake in time and counts it", async (t) => {
    const gateway = await startGateway(t, { tlsHandshakeTimeoutSeconds: "1", headersTimeoutSeconds: "600" });
    const silent = await idleConnection(t, gateway.port);
    assert.equal(await closedByServer(silent), 0);
    await pollUntil(
      async () => (await dropped(gateway, "handshake_timeout")) === 1,
      CLOSE_DEADLINE_MS,
      () => "hopgate_connections_dropped_total{reason=handshake_timeout} is not 1",
      100,
    );
    assert.equal((await visit(gateway)).status, 404);
  });

  it("sizes the automatic cap from memory, within bounds", () => {
    const cases: Array<[memoryBytes: number, cap: number]> = [
      [64 * MiB, 1024],
      [1024 * MiB, Math.floor((1024 * MiB) / 2 / BYTES_PER_CONNECTION)],
      [8192 * MiB, Math.floor((8192 * MiB) / 2 / BYTES_PER_CONNECTION)],
      [4096 * 1024 * MiB, 1_000_000],
    ];
    for (const [memoryBytes, cap] of cases)
      assert.equal(autoMaxConnections(memoryBytes), cap, `${memoryBytes}`);
    assert.equal(resolveMaxConnections(0), 0);
    assert.equal(resolveMaxConnections(7), 7);
    assert.ok(resolveMaxConnections("auto") >= 1024);
  });

  it("accepts auto or a whole number, and refuses anything else with a clear error", () => {
    const parse = (value: string) =>
      loadConfig(serverSettings, { env: {}, dotenvDir: null, flags: { maxConnections: value } })
        .maxConnections;
    assert.equal(parse("auto"), "auto");
    assert.equal(parse("AUTO"), "auto");
    assert.equal(parse("2500"), 2500);
    assert.equal(parse("0"), 0);
    for (const bad of ["lots", "-1", "1.5", "10000001"])
      assert.throws(
        () => parse(bad),
        /--max-connections=.* is invalid.*expected auto, or a whole number/,
        bad,
      );
  });
});
