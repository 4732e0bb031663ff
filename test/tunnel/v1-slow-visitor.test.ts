import assert from "node:assert/strict";
import { once } from "node:events";
import type { IncomingMessage } from "node:http";
import https from "node:https";
import { describe, it, type TestContext } from "node:test";
import { startBackend } from "../helpers/backend.js";
import { startGateway } from "../helpers/gateway.js";
import { GrpcStatus } from "../helpers/grpc-message.js";
import { captureLogs, type LogCapture } from "../helpers/log-capture.js";
import { until } from "../helpers/poll-until.js";
import { tlsFixture } from "../helpers/tls-fixture.js";
import { startV1GoClientTo } from "../helpers/v1-go-client.js";
import { visit } from "../helpers/visit.js";
import { within } from "../helpers/within.js";

const DOMAIN = "slow-v1.example.test";
const MiB = 1024 * 1024;
/** Wide: the fast request needs milliseconds; on today's main it waits for the idle timeout (120 s). */
const FAST_VISIT_DEADLINE_MS = 30_000;
/** Each test's own deadline (each needs 1 to 3 s): a stalled tunnel fails it, never the suite's 300 s. */
const TEST_DEADLINE = { timeout: 90_000 };

/** A gateway with the TypeScript emulation of the v1 Go client in front of /big (32 MiB) and /1k. */
async function gatewayWithV1Emulation(t: TestContext, logs: LogCapture) {
  const gateway = await startGateway(t, {}, logs.logger);
  const backend = await startBackend(t, (req, res) => {
    if (req.url === "/1k") return void res.end(Buffer.alloc(1024, 98));
    res.writeHead(200, { "content-type": "application/octet-stream" });
    res.end(Buffer.alloc(32 * MiB, 97));
  });
  const apiKey = await gateway.register(DOMAIN);
  const peer = startV1GoClientTo(t, gateway, {
    domain: DOMAIN,
    apiKey,
    localTarget: `127.0.0.1:${backend.port}`,
  });
  await until(() => gateway.server.registry.hasTunnel(DOMAIN), "the v1 tunnel to be registered");
  return { gateway, peer };
}

/** An HTTP/1.1 visitor of /big that takes the response head and then reads nothing more. */
async function stuckVisitor(t: TestContext, port: number): Promise<IncomingMessage> {
  const request = https.request({
    host: "127.0.0.1",
    port,
    path: "/big",
    servername: DOMAIN,
    headers: { host: DOMAIN },
    ca: tlsFixture().cert,
    agent: false,
  });
  request.on("error", () => undefined);
  t.after(() => request.destroy());
  request.end();
  const [response] = (await within(once(request, "response"), "the stuck visitor's response head")) as [
    IncomingMessage,
  ];
  response.on("error", () => undefined);
  response.pause();
  return response;
}

describe("v1 tunnels (TypeScript emulation of the v1 Go client)", () => {
  it(
    "gives up only the stream of a visitor that stops reading; the tunnel's other visitors go on",
    TEST_DEADLINE,
    async (t) => {
      const logs = captureLogs();
      const { gateway } = await gatewayWithV1Emulation(t, logs);
      await stuckVisitor(t, gateway.port);
      const fast = await visit(gateway.port, DOMAIN, "/1k", { timeoutMs: FAST_VISIT_DEADLINE_MS });
      assert.equal(fast.status, 200);
      assert.equal(fast.body.length, 1024);

      await until(() => logs.since(0, "request").length === 2, "both access lines");
      const big = logs.since(0, "request").find((line) => line.path === "/big");
      assert.equal(big?.error, "client_abort", "the stuck visitor's stream was given up");
      assert.equal(big?.remote_addr, "127.0.0.1");
      // The StreamOpen of the aborted request's answer is no protocol violation of the client.
      assert.deepEqual(logs.since(0, "tunnel protocol violation"), []);
      assert.equal(gateway.server.registry.list({ domain: DOMAIN })[0]?.inFlightStreams, 0);
    },
  );

  it(
    "does not count the answer to a request whose visitor left as the client's protocol violation",
    TEST_DEADLINE,
    async (t) => {
      const logs = captureLogs();
      const gateway = await startGateway(t, {}, logs.logger);
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      let held = 0;
      const backend = await startBackend(t, (req, res) => {
        if (req.url !== "/late") return void res.end("now");
        held++;
        void released.then(() => res.end("late"));
      });
      const apiKey = await gateway.register(DOMAIN);
      startV1GoClientTo(t, gateway, { domain: DOMAIN, apiKey, localTarget: `127.0.0.1:${backend.port}` });
      await until(() => gateway.server.registry.hasTunnel(DOMAIN), "the v1 tunnel to be registered");
      const request = https.request({
        host: "127.0.0.1",
        port: gateway.port,
        path: "/late",
        servername: DOMAIN,
        headers: { host: DOMAIN },
        ca: tlsFixture().cert,
        agent: false,
      });
      request.on("error", () => undefined);
      request.end();
      await until(() => held === 1, "the request to reach the backend");
      request.destroy();
      await until(() => logs.since(0, "request").length === 1, "the access line of the visitor who left");
      assert.equal(logs.since(0, "request")[0]?.error, "client_abort");
      release();
      // The client answers the abandoned request on the same call before this one's answer.
      assert.equal((await visit(gateway.port, DOMAIN, "/after")).status, 200);
      assert.deepEqual(logs.since(0, "tunnel protocol violation"), []);
    },
  );

  it(
    "ends v1 tunnels with UNAVAILABLE when the server stops, so that supervisors restart the Go client",
    TEST_DEADLINE,
    async (t) => {
      const logs = captureLogs();
      const { gateway, peer } = await gatewayWithV1Emulation(t, logs);
      await gateway.server.stop(1000);
      const end = await within(peer.ended, "the v1 tunnel to end");
      assert.equal(end.grpcStatus, GrpcStatus.unavailable);
    },
  );
});
