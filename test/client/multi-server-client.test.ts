import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { startClient } from "../../src/client/start-client.js";
import { loadClientFile } from "../../src/config/client-file.js";
import { clientProcessSettings } from "../../src/config/client-process-settings.js";
import { clientSettings } from "../../src/config/client-settings.js";
import { frame } from "../../src/protocol/frames.js";
import { tempDir } from "../helpers/temp-dir.js";
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

describe("a client of several domains on a gateway of several servers", () => {
  it("opens every domain's tunnel on each advertised server and lets a server go when a list drops it", async (t) => {
    const domains = ["one.example.test", "two.example.test"];
    const credentials = Object.fromEntries(domains.map((d) => [d, KEY]));
    const a = await startV1GoServer(t, { credentials });
    const b = await startV1GoServer(t, { credentials });
    const dir = await tempDir(t);
    const path = join(dir, "hopgate.yaml");
    await writeFile(
      path,
      [
        `server: https://127.0.0.1:${a.port}`,
        `ca_file: ${a.caFile}`,
        "domains:",
        ...domains.map(
          (d) =>
            `  - { domain: ${d}, api_key: ${KEY}, services: [{ name: web, url: "http://127.0.0.1:9" }] }`,
        ),
      ].join("\n"),
    );
    const config = loadConfig(clientProcessSettings, {
      env: {},
      dotenvDir: null,
      flags: { shutdownTimeoutSeconds: "1", inspect: "off" },
    });
    const handle = await startClient(
      { ...config, file: loadClientFile(path, process.env) },
      captureLogs().logger,
    );
    t.after(() => handle.stop());
    const both = [`127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`];
    const onA = [await within(a.nextTunnel(), "a tunnel to A"), await within(a.nextTunnel(), "another")];
    for (const tunnel of onA) await tunnel.send(accept(header(tunnel, WireHeader.domain) ?? "", both));
    const onB = [await within(b.nextTunnel(), "a tunnel to B"), await within(b.nextTunnel(), "another")];
    assert.deepEqual(onB.map((tunnel) => header(tunnel, WireHeader.domain)).sort(), domains);
    for (const tunnel of onB) await tunnel.send(accept(header(tunnel, WireHeader.domain) ?? "", both));
    assert.deepEqual(
      [...handle.tunnels.keys()].sort(),
      domains,
      "one tunnel per domain to the configured server",
    );
    // A list without B (from A): both tunnels to B end; none comes back.
    await onA[0]!.send(frame.serverList([both[0]!]));
    await within(Promise.all(onB.map((tunnel) => tunnel.closed)), "B's tunnels closing");
    const again = await Promise.race([b.nextTunnel(), sleep(1500).then(() => undefined)]);
    assert.equal(again, undefined, "no tunnel to B after it left the list");
  });
});

describe("one domain on a gateway of several servers", () => {
  it("--domain auto: asks every other server for the label the first one assigned, with the same instance id", async (t) => {
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

  it("with --single-server holds the configured server only, whatever it advertises", async (t) => {
    const a = await startV1GoServer(t, { credentials: { [LABEL]: KEY } });
    const b = await startV1GoServer(t, { credentials: { [LABEL]: KEY } });
    const handle = await startClient(
      loadConfig(clientSettings, {
        env: {},
        dotenvDir: null,
        flags: {
          serverAddr: `https://127.0.0.1:${a.port}`,
          domain: LABEL,
          apiKey: KEY,
          localTarget: "127.0.0.1:9",
          caFile: a.caFile,
          shutdownTimeoutSeconds: "1",
          inspect: "off",
          singleServer: "true",
        },
      }),
      captureLogs().logger,
    );
    t.after(() => handle.stop());
    const tunnel = await within(a.nextTunnel(), "the tunnel to A");
    await tunnel.send(accept(LABEL, [`127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`]));
    await tunnel.send(frame.serverList([`127.0.0.1:${b.port}`]));
    const toB = await Promise.race([b.nextTunnel(), sleep(1500).then(() => undefined)]);
    assert.equal(toB, undefined, "no tunnel to an advertised server");
  });
});
