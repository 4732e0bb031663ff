import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import fc from "fast-check";
import { originOf } from "../../src/client/server-list.js";
import { startClient } from "../../src/client/start-client.js";
import { clientSettings } from "../../src/config/client-settings.js";
import { loadConfig } from "../../src/config/load-config.js";
import { frame } from "../../src/protocol/frames.js";
import {
  EnvelopeSchema,
  TunnelAcceptSchema,
  type Envelope,
} from "../../src/protocol/gen/hopgate/protocol/v1/tunnel_pb.js";
import { captureLogs } from "../helpers/log-capture.js";
import { until } from "../helpers/poll-until.js";
import { startV1GoServer, type V1ServerTunnel } from "../helpers/v1-go-server.js";

const DOMAIN = "hostile-list.example.test";
const KEY = "k".repeat(64);

/** Entries aimed at the client's list handling: malformed, smuggling, or loopback ports nobody serves. */
const entry = fc.oneof(
  fc.string({ maxLength: 30 }).filter((s) => originOf(s) === undefined),
  fc.string({ unit: "binary", maxLength: 30 }).filter((s) => originOf(s) === undefined),
  fc.constantFrom(
    "user:key@127.0.0.1:9",
    "127.0.0.1:9/steal",
    "https://127.0.0.1:9",
    "127.0.0.1:0",
    "127.0.0.1:70000",
    "[::1]",
    "127.0.0.1:9\r\nX: y",
    "a".repeat(100_000),
  ),
  // Well-formed, on loopback: the client may dial these (refused at once).
  fc.integer({ min: 1, max: 1023 }).map((port) => `127.0.0.1:${port}`),
);
const hostileList = fc.array(entry, { maxLength: 200 });

/** Every frame the client sent, FrameBatches unpacked. */
function flat(envelopes: readonly Envelope[]): Envelope[] {
  return envelopes.flatMap((e) => (e.payload.case === "batch" ? flat(e.payload.value.frames) : [e]));
}

async function pingPong(tunnel: V1ServerTunnel, nonce: bigint): Promise<void> {
  await tunnel.send(frame.ping(nonce));
  await until(
    () => flat(tunnel.received).some((e) => e.payload.case === "pong" && e.payload.value.nonce === nonce),
    `pong ${nonce}`,
  );
}

describe("a server advertising hostile server lists", () => {
  it("never crashes the client: its tunnel keeps answering, and it holds only well-formed, bounded servers", async (t) => {
    const server = await startV1GoServer(t, { credentials: { [DOMAIN]: KEY } });
    const bootstrap = `https://127.0.0.1:${server.port}`;
    const heard: Array<readonly string[]> = [];
    const handle = await startClient(
      loadConfig(clientSettings, {
        env: {},
        dotenvDir: null,
        flags: {
          serverAddr: bootstrap,
          domain: DOMAIN,
          apiKey: KEY,
          localTarget: "127.0.0.1:9",
          caFile: server.caFile,
          shutdownTimeoutSeconds: "1",
          inspect: "off",
        },
      }),
      captureLogs().logger,
      { onServers: (servers) => heard.push(servers) },
    );
    t.after(() => handle.stop());
    const tunnel = await server.nextTunnel();
    const accept = (servers: string[]) =>
      create(EnvelopeSchema, {
        payload: {
          case: "tunnelAccept",
          value: create(TunnelAcceptSchema, {
            protocolVersion: 2,
            sessionId: "hostile",
            initialWindowBytes: 1 << 20,
            maxChunkBytes: 64 << 10,
            pingIntervalMs: 60_000,
            maxConcurrentStreams: 100,
            hostname: DOMAIN,
            servers,
          }),
        },
      });
    await tunnel.send(accept(["127.0.0.1:1", "user@127.0.0.1:2", "x".repeat(5000)]));
    await pingPong(tunnel, 1n);
    assert.deepEqual(heard.at(-1), [bootstrap, "https://127.0.0.1:1"]);

    let nonce = 2n;
    await fc.assert(
      fc.asyncProperty(hostileList, async (list) => {
        await tunnel.send(frame.serverList(list));
        await pingPong(tunnel, nonce++);
        const held = handle.tunnels.size === 1 ? (heard.at(-1) ?? [bootstrap]) : [];
        assert.equal(held[0], bootstrap, "the configured server is always held, first");
        assert.ok(held.length <= 17, `${held.length} servers held`);
        // An origin of port 443 has no port (URL origins drop the scheme's default).
        for (const origin of held.slice(1)) assert.match(origin, /^https:\/\/127\.0\.0\.1(:\d{1,4})?$/);
      }),
      { numRuns: 40 },
    );
    // An empty list lets every advertised server go; the configured one stays.
    await tunnel.send(frame.serverList([]));
    await pingPong(tunnel, nonce++);
    assert.deepEqual(heard.at(-1), [bootstrap]);
    assert.equal(handle.tunnel.current?.version, 2);
  });
});
