import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { clientSettings } from "../../src/config/client-settings.js";
import { loadConfig } from "../../src/config/load-config.js";
import { startClient } from "../../src/client/start-client.js";
import type { TunnelClientStatus } from "../../src/client/tunnel-client.js";
import { startBackend } from "../helpers/backend.js";
import { startGateway, startTestClient, testLogger } from "../helpers/gateway.js";
import { startClientProcess } from "../helpers/server-process.js";
import { visit } from "../helpers/visit.js";

describe("hopgate client", () => {
  it("passes a backend's redirect to the visitor instead of following it", async (t) => {
    const gateway = await startGateway(t);
    let hits = 0;
    const backend = await startBackend(t, (req, res) => {
      hits++;
      if (req.url === "/old") {
        res.writeHead(302, { location: "http://169.254.169.254/latest/meta-data/" });
        return res.end();
      }
      res.end("not reached");
    });
    const key = await gateway.register("redirect.example.test");
    await startTestClient(t, gateway, "redirect.example.test", key, [`web=${backend.url}`]).connected;
    const response = await visit(gateway.port, "redirect.example.test", "/old");
    assert.equal(response.status, 302);
    assert.equal(response.headers.location, "http://169.254.169.254/latest/meta-data/");
    assert.equal(hits, 1, "the client made exactly the visitor's request");
  });

  it("passes a backend's response headers named like Object.prototype members as ordinary fields", async (t) => {
    const gateway = await startGateway(t);
    const backend = await startBackend(t, (_req, res) => {
      res.writeHead(200, ["constructor", "c", "toString", "s", "hasOwnProperty", "h"]);
      res.end("ok");
    });
    const key = await gateway.register("proto.example.test");
    await startTestClient(t, gateway, "proto.example.test", key, [`web=${backend.url}`]).connected;
    for (const http2 of [false, true]) {
      const response = await visit(gateway.port, "proto.example.test", "/", { http2 });
      assert.equal(response.status, 200);
      assert.equal(response.body.toString(), "ok");
      assert.equal(response.headers.constructor, "c");
      assert.equal(response.headers.tostring, "s");
      assert.equal(response.headers.hasownproperty, "h");
    }
  });

  it("reports a rejected key clearly and waits minutes, not seconds, before trying again", async (t) => {
    const gateway = await startGateway(t);
    await gateway.register("rejected.example.test");
    const statuses: TunnelClientStatus[] = [];
    const handle = await startClient(
      loadConfig(clientSettings, {
        env: {},
        dotenvDir: null,
        flags: {
          serverAddr: `https://127.0.0.1:${gateway.port}`,
          domain: "rejected.example.test",
          apiKey: "0".repeat(64),
          localTarget: "127.0.0.1:9",
          caFile: gateway.caFile,
          shutdownTimeoutSeconds: "1",
        },
      }),
      testLogger(),
      { onStatus: (status) => statuses.push(status) },
    );
    t.after(() => handle.stop());
    const deadline = Date.now() + 10_000;
    while (!statuses.some((s) => s.t === "waiting")) {
      assert.ok(Date.now() < deadline, "the client reported nothing");
      await sleep(20);
    }
    const waiting = statuses.find((s) => s.t === "waiting") as Extract<TunnelClientStatus, { t: "waiting" }>;
    assert.match(waiting.reason, /invalid domain or api key/);
    assert.ok(waiting.delayMs >= 60_000, `retry after ${waiting.delayMs} ms`);
    await sleep(1500);
    assert.equal(statuses.filter((s) => s.t === "connecting").length, 1, "no second attempt within the wait");
  });

  it("refuses requests for a service it does not have and never dials the server's target_addr", async (t) => {
    const gateway = await startGateway(t);
    const backend = await startBackend(t, (_req, res) => res.end("api"));
    const key = await gateway.register("svc.example.test");
    await startTestClient(t, gateway, "svc.example.test", key, [`api:/api=${backend.url}`]).connected;
    const served = await visit(gateway.port, "svc.example.test", "/api/x");
    assert.equal(served.body.toString(), "api");
    const unrouted = await visit(gateway.port, "svc.example.test", "/elsewhere");
    assert.equal(unrouted.status, 502, "no service covers / on this domain");
  });

  it("finishes an in-flight request on SIGTERM, then exits 0", async (t) => {
    const gateway = await startGateway(t);
    const backend = await startBackend(t, (_req, res) => setTimeout(() => res.end("finished"), 1500));
    const key = await gateway.register("graceful.example.test");
    const client = startClientProcess(t, {
      serverPort: gateway.port,
      caFile: gateway.caFile,
      domain: "graceful.example.test",
      apiKey: key,
      backendUrl: backend.url,
      extraArgs: ["--shutdown-timeout-seconds", "10"],
    });
    await client.waitForLine((line) => line.msg === "tunnel accepted");
    const pending = visit(gateway.port, "graceful.example.test", "/slow");
    await sleep(300);
    client.child.kill("SIGTERM");
    const response = await pending;
    assert.equal(response.status, 200, JSON.stringify(client.lines.slice(-8)));
    assert.equal(response.body.toString(), "finished");
    assert.equal(await client.exited, 0);
  });

  it("is listed by the admin API with its domain, address, protocol, services and traffic", async (t) => {
    const gateway = await startGateway(t, { adminApiKey: "admin-key-0123456789abcdef" });
    const backend = await startBackend(t, (_req, res) => res.end("hello"));
    const key = await gateway.register("listed.example.test");
    await startTestClient(t, gateway, "listed.example.test", key, [
      `web=${backend.url}`,
      `api:/api=${backend.url}`,
    ]).connected;
    await visit(gateway.port, "listed.example.test", "/");
    const response = await visit(
      gateway.port,
      "gateway.test",
      "/api/v1/admin/sessions?domain=listed.example.test",
      {
        headers: { authorization: "Bearer admin-key-0123456789abcdef" },
      },
    );
    assert.equal(response.status, 200, response.body.toString());
    const { sessions } = JSON.parse(response.body.toString()) as { sessions: Array<Record<string, unknown>> };
    assert.equal(sessions.length, 1);
    const session = sessions[0] as Record<string, unknown>;
    assert.equal(session.domain, "listed.example.test");
    assert.equal(session.remote_address, "127.0.0.1");
    assert.equal(session.protocol_version, 2);
    assert.deepEqual(session.services, [
      { name: "web", path_prefix: "/" },
      { name: "api", path_prefix: "/api" },
    ]);
    assert.ok(Date.parse(String(session.connected_at)) <= Date.now());
    assert.equal(session.in_flight_streams, 0);
    assert.equal(session.bytes_from_client, 5);
  });
});
