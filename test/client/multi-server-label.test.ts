import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { startClient } from "../../src/client/start-client.js";
import { clientSettings } from "../../src/config/client-settings.js";
import { loadConfig } from "../../src/config/load-config.js";
import { EnvelopeSchema, TunnelAcceptSchema } from "../../src/protocol/gen/hopgate/protocol/v1/tunnel_pb.js";
import { WireHeader } from "../../src/protocol/wire-headers.js";
import { captureLogs } from "../helpers/log-capture.js";
import { within } from "../helpers/within.js";
import { startV1GoServer, type V1ServerTunnel } from "../helpers/v1-go-server.js";

const KEY = "k".repeat(64);
const LABEL = "quiet-otter-42.tunnel.example.test";

function accept(hostname: string, servers: string[]) {
  return create(EnvelopeSchema, {
    payload: {
      case: "tunnelAccept",
      value: create(TunnelAcceptSchema, {
        protocolVersion: 2,
        sessionId: `s-${hostname}`,
        initialWindowBytes: 1 << 20,
        maxChunkBytes: 64 << 10,
        pingIntervalMs: 60_000,
        maxConcurrentStreams: 100,
        hostname,
        servers,
      }),
    },
  });
}

function header(tunnel: V1ServerTunnel, name: string): string | undefined {
  return tunnel.hello.header[name]?.values[0];
}

describe("--domain auto on a gateway of several servers", () => {
  it("asks every other server for the label the first one assigned, with the same instance id", async (t) => {
    // Two servers the test speaks for: A assigns a label and advertises B.
    const a = await startV1GoServer(t, { credentials: { auto: KEY } });
    const b = await startV1GoServer(t, { credentials: { [LABEL]: KEY } });
    const handle = await startClient(
      loadConfig(clientSettings, {
        env: {},
        dotenvDir: null,
        flags: {
          serverAddr: `https://127.0.0.1:${a.port}`,
          domain: "auto",
          apiKey: KEY,
          localTarget: "127.0.0.1:9",
          caFile: a.caFile,
          shutdownTimeoutSeconds: "1",
          inspect: "off",
        },
      }),
      captureLogs().logger,
    );
    t.after(() => handle.stop());
    const first = await within(a.nextTunnel(), "the tunnel to A");
    assert.equal(header(first, WireHeader.domain), "auto");
    const instance = header(first, WireHeader.instance);
    assert.ok(instance, "the client sends an instance id");
    await first.send(accept(LABEL, [`127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`]));

    const second = await within(b.nextTunnel(), "the tunnel to B");
    assert.equal(header(second, WireHeader.domain), LABEL, "B is asked for A's label, not for a new one");
    assert.equal(header(second, WireHeader.instance), instance, "with the same instance id");
    await second.send(accept(LABEL, [`127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`]));
    assert.equal(handle.tunnel.publicUrl, `https://${LABEL}:${a.port}`);
  });
});
