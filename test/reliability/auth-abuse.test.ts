import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { clientSettings } from "../../src/config/client-settings.js";
import { loadConfig } from "../../src/config/load-config.js";
import { startClient } from "../../src/client/start-client.js";
import type { TunnelClientStatus } from "../../src/client/tunnel-client.js";
import { createLogger } from "../../src/lib/logger.js";
import { GrpcCode } from "../../src/protocol/grpc-status.js";
import type { DomainRepository } from "../../src/server/store/domain-repository.js";
import { echoed, echoHandler, startBackend, type Echo } from "../helpers/backend.js";
import { startGateway, startTestClient, type Gateway } from "../helpers/gateway.js";
import { spawnHopgate, type HopgateProcess } from "../helpers/hopgate-process.js";
import { until } from "../helpers/poll-until.js";
import { sampleValue } from "../helpers/prometheus-text.js";
import { waitUntil } from "../helpers/prometheus-server.js";
import { tempDir } from "../helpers/temp-dir.js";
import { tlsFixture } from "../helpers/tls-fixture.js";
import { startV1GoClientTo, type TunnelEnd } from "../helpers/v1-go-client.js";
import { visit, type Visit } from "../helpers/visit.js";
import { within } from "../helpers/within.js";

const ADMIN_KEY = `admin-${randomBytes(16).toString("hex")}`;
const DOMAIN = "app.example.test";
/** Three failures within a minute block the address for five minutes: no test outlives the block. */
const LIMITS = { authMaxFailures: "3", authFailureWindowSeconds: "60", authBlockSeconds: "300" };
const BLOCKED_MESSAGE = /^too many failed authentications from this address; retry in \d+ s$/;
/**
 * Each test's own deadline, wide for a busy 2-core machine (each needs 0.2 to 6 s): a broken
 * limiter leaves a tunnel open or a client connected, and the test fails here, not at the suite's
 * 300 s timeout. The awaited steps have their own 30 s deadlines (within()), which name the step.
 */
const TEST_DEADLINE = { timeout: 90_000 };

function limitedGateway(t: TestContext, flags: Record<string, string> = {}): Promise<Gateway> {
  return startGateway(t, { adminApiKey: ADMIN_KEY, ...LIMITS, ...flags });
}

/**
 * One handshake by the TypeScript emulation of the v1 Go client from 127.0.0.1; resolves with how
 * the call ended. A handshake the server accepts never ends: it fails after the step deadline.
 */
function v1Handshake(t: TestContext, gateway: Gateway, apiKey: string, hello?: "none"): Promise<TunnelEnd> {
  const peer = startV1GoClientTo(t, gateway, { domain: DOMAIN, apiKey, localTarget: "127.0.0.1:9", hello });
  return within(peer.ended, "the server to end the v1 handshake (an accepted tunnel stays open)");
}

/** startTestClient() for DOMAIN, resolved once connected; fails after the step deadline. */
async function connectedClient(t: TestContext, gateway: Gateway, key: string): Promise<void> {
  const connected = startTestClient(t, gateway, DOMAIN, key, ["web=http://127.0.0.1:9"]).connected;
  await within(connected, "the HopGate client to connect (a blocked client waits out the block)");
}

function admin(
  gateway: Gateway,
  method: string,
  path: string,
  bearer?: string,
  body?: unknown,
  http2 = false,
): Promise<Visit> {
  return visit(gateway.port, "gateway.test", `/api/v1/admin${path}`, {
    method,
    http2,
    headers: {
      ...(bearer !== undefined && { authorization: `Bearer ${bearer}` }),
      ...(body !== undefined && { "content-type": "application/json" }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

async function scrape(gateway: Gateway): Promise<string> {
  return (await fetch(`http://127.0.0.1:${gateway.server.metricsPort}/metrics`)).text();
}

function assertSamples(scraped: string, expected: Record<string, number>): void {
  for (const [series, value] of Object.entries(expected))
    assert.equal(sampleValue(scraped, series), value, series);
}

/** Counts the tunnel authenticator's store lookups (the repository the server itself uses). */
function countStoreLookups(domains: DomainRepository): { count: number } {
  const counter = { count: 0 };
  const authenticate = domains.authenticate.bind(domains);
  const find = domains.find.bind(domains);
  Object.assign(domains, {
    authenticate: (...args: Parameters<DomainRepository["authenticate"]>) => {
      counter.count++;
      return authenticate(...args);
    },
    find: (...args: Parameters<DomainRepository["find"]>) => {
      counter.count++;
      return find(...args);
    },
  });
  return counter;
}

describe("authentication abuse", () => {
  it(
    "refuses an address after 3 failed handshakes, even with the right key, without asking the store",
    TEST_DEADLINE,
    async (t) => {
      const gateway = await limitedGateway(t);
      const key = await gateway.register(DOMAIN);
      const lookups = countStoreLookups(gateway.server.domains);
      for (let i = 0; i < 3; i++) {
        const end = await v1Handshake(t, gateway, `wrong-${i}-${"0".repeat(58)}`);
        assert.equal(end.grpcStatus, GrpcCode.permissionDenied, `failure ${i + 1}: ${end.grpcMessage}`);
      }
      const lookupsWhenBlocked = lookups.count;
      assert.ok(lookupsWhenBlocked >= 3, "the failed handshakes were checked against the store");

      const rightKey = await v1Handshake(t, gateway, key);
      assert.equal(rightKey.grpcStatus, GrpcCode.resourceExhausted, rightKey.grpcMessage);
      assert.match(rightKey.grpcMessage, BLOCKED_MESSAGE);
      // Refused before any message is read: unblocked, a call without a hello ends INVALID_ARGUMENT.
      const noHello = await v1Handshake(t, gateway, key, "none");
      assert.equal(noHello.grpcStatus, GrpcCode.resourceExhausted, noHello.grpcMessage);
      assert.equal(lookups.count, lookupsWhenBlocked, "a blocked address never reaches the store");
      assert.equal(gateway.server.registry.hasTunnel(DOMAIN), false);

      // One limiter guards both doors: the admin API refuses the address too.
      const adminCall = await admin(gateway, "GET", `/domains/exists?domain=${DOMAIN}`, ADMIN_KEY);
      assert.equal(adminCall.status, 429, adminCall.body.toString());

      assertSamples(await scrape(gateway), {
        'hopgate_tunnel_handshakes_total{result="invalid_key"}': 3,
        'hopgate_tunnel_handshakes_total{result="rate_limited"}': 2,
        'hopgate_tunnel_handshakes_total{result="ok"}': 0,
        'hopgate_auth_failures_total{kind="tunnel"}': 3,
        'hopgate_auth_blocked_total{kind="tunnel"}': 2,
        'hopgate_auth_failures_total{kind="admin"}': 0,
        'hopgate_auth_blocked_total{kind="admin"}': 1,
      });
    },
  );

  it(
    "makes the real client say why and wait out the block instead of hammering",
    TEST_DEADLINE,
    async (t) => {
      const gateway = await limitedGateway(t);
      const key = await gateway.register(DOMAIN);
      for (let i = 0; i < 3; i++) await v1Handshake(t, gateway, "f".repeat(64));
      const lines: string[] = [];
      const logger = createLogger({
        level: "debug",
        destination: { write: (line) => void lines.push(line) },
      });
      const statuses: TunnelClientStatus[] = [];
      const config = loadConfig(clientSettings, {
        env: {},
        dotenvDir: null,
        flags: {
          serverAddr: `https://127.0.0.1:${gateway.port}`,
          domain: DOMAIN,
          apiKey: key,
          localTarget: "127.0.0.1:9",
          caFile: gateway.caFile,
          shutdownTimeoutSeconds: "1",
        },
      });
      const handle = await startClient(config, logger, { onStatus: (status) => statuses.push(status) });
      t.after(() => handle.stop());
      await waitUntil(
        () => Promise.resolve(statuses.some((s) => s.t === "waiting")),
        30_000,
        () => "the client reported no wait",
      );
      const waiting = statuses.find((s) => s.t === "waiting") as Extract<
        TunnelClientStatus,
        { t: "waiting" }
      >;
      assert.equal(waiting.cause, "rejected");
      assert.match(
        waiting.reason,
        /too many failed authentications from this address; retry in \d+ s \(rate_limited\)/,
      );
      // The server's pushback is the rest of the 300 s block; the client waits at least that.
      assert.ok(waiting.delayMs > 240_000 && waiting.delayMs <= 300_000, `waits ${waiting.delayMs} ms`);
      const logged = lines
        .map((line) => JSON.parse(line) as Record<string, unknown>)
        .find((entry) => String(entry.msg).includes("too many failed authentications"));
      assert.ok(logged, `no clear log line among:\n${lines.join("")}`);
      assert.equal(logged.level, "warn");
      assert.equal(logged.retry_in_ms, waiting.delayMs);

      await sleep(1500);
      assert.equal(statuses.filter((s) => s.t === "connecting").length, 1, "no second attempt while blocked");
      assertSamples(await scrape(gateway), { 'hopgate_tunnel_handshakes_total{result="rate_limited"}': 1 });
    },
  );

  it(
    "answers 429 with Retry-After and the admin error shape after 3 failed admin logins; the route never runs",
    TEST_DEADLINE,
    async (t) => {
      const gateway = await limitedGateway(t);
      const key = await gateway.register(DOMAIN);
      // Over HTTP/1.1 and HTTP/2 alike: the limit sees the connection's address either way.
      for (const [bearer, http2] of [
        [undefined, false],
        [`${ADMIN_KEY}-wrong`, true],
        ["short", false],
      ] as const) {
        const refused = await admin(
          gateway,
          "GET",
          `/domains/exists?domain=${DOMAIN}`,
          bearer,
          undefined,
          http2,
        );
        assert.equal(refused.status, 401, refused.body.toString());
      }
      const blocked = await admin(
        gateway,
        "POST",
        "/domains/register",
        ADMIN_KEY,
        { domain: "new.example.test" },
        true,
      );
      assert.equal(blocked.status, 429, blocked.body.toString());
      const retryAfter = Number(blocked.headers["retry-after"]);
      assert.ok(
        Number.isInteger(retryAfter) && retryAfter > 240 && retryAfter <= 300,
        `Retry-After ${retryAfter}`,
      );
      assert.match(String(blocked.headers["content-type"]), /^application\/json/);
      const body = JSON.parse(blocked.body.toString()) as {
        success: boolean;
        error: { code: string; message: string };
      };
      assert.equal(body.success, false);
      assert.equal(body.error.code, "rate_limited");
      assert.match(body.error.message, BLOCKED_MESSAGE);
      assert.equal(await gateway.server.domains.find("new.example.test"), undefined, "the route did not run");

      const tunnel = await v1Handshake(t, gateway, key);
      assert.equal(tunnel.grpcStatus, GrpcCode.resourceExhausted, "the tunnel door is closed to it too");
      assertSamples(await scrape(gateway), {
        'hopgate_auth_failures_total{kind="admin"}': 3,
        'hopgate_auth_blocked_total{kind="admin"}': 1,
        'hopgate_auth_blocked_total{kind="tunnel"}': 1,
        'hopgate_auth_failures_total{kind="tunnel"}': 0,
      });
    },
  );

  it(
    "does not count successes, and lets the address back in when the block ends",
    TEST_DEADLINE,
    async (t) => {
      const gateway = await limitedGateway(t, { authBlockSeconds: "5" });
      const key = await gateway.register(DOMAIN);
      const exists = (bearer: string) => admin(gateway, "GET", `/domains/exists?domain=${DOMAIN}`, bearer);
      for (let i = 0; i < 2; i++) assert.equal((await exists("wrong")).status, 401);
      for (let i = 0; i < 20; i++) assert.equal((await exists(ADMIN_KEY)).status, 200, `success ${i + 1}`);
      assert.equal((await exists("wrong")).status, 401, "the third failure");
      const blockedAt = Date.now();
      const blocked = await exists(ADMIN_KEY);
      assert.equal(blocked.status, 429);
      assert.ok(Number(blocked.headers["retry-after"]) <= 5);
      let status = 429;
      while (status === 429) {
        assert.ok(Date.now() - blockedAt < 30_000, "still blocked 30 s after a 5 s block began");
        await sleep(250);
        status = (await exists(ADMIN_KEY)).status;
      }
      assert.equal(status, 200);
      t.diagnostic(`admitted again ${Date.now() - blockedAt} ms after the block began (5 s block)`);
      await connectedClient(t, gateway, key);
    },
  );

  it(
    "behind a trusted front proxy, blocks the admin caller its X-Forwarded-For names, not the proxy",
    TEST_DEADLINE,
    async (t) => {
      const gateway = await limitedGateway(t, { trustedProxies: "127.0.0.1" });
      const exists = (visitor: string, bearer: string) =>
        visit(gateway.port, "gateway.test", `/api/v1/admin/domains/exists?domain=${DOMAIN}`, {
          headers: { authorization: `Bearer ${bearer}`, "x-forwarded-for": visitor },
        });
      for (let i = 0; i < 3; i++) assert.equal((await exists("203.0.113.9", `wrong-${i}`)).status, 401);
      assert.equal((await exists("203.0.113.9", ADMIN_KEY)).status, 429, "the guesser is blocked");
      assert.equal(
        (await exists("198.51.100.7", ADMIN_KEY)).status,
        200,
        "the proxy's other callers are not",
      );
      // Callers the proxy names no address for share one count: they do not escape it.
      for (let i = 0; i < 3; i++) assert.equal((await exists("unknown", `wrong-${i}`)).status, 401);
      assert.equal((await exists("_hidden", ADMIN_KEY)).status, 429, "an unknown guesser is blocked");
      assert.equal((await exists("198.51.100.7", ADMIN_KEY)).status, 200);
    },
  );

  // HOP_SERVER_TRUSTED_PROXY_HEADER: each mode reads its own header; the other, naming the
  // proxy's other client, is sent along and must not count.
  for (const [header, spell, other] of [
    ["X-Forwarded-For", (client: string) => client, { forwarded: "for=198.51.100.7" }],
    ["Forwarded", (client: string) => `for=${client};proto=https`, { "x-forwarded-for": "198.51.100.7" }],
  ] as const) {
    it(
      `behind a trusted front proxy, blocks the tunnel client its ${header} names, not the proxy`,
      TEST_DEADLINE,
      async (t) => {
        const gateway = await limitedGateway(t, {
          trustedProxies: "127.0.0.1",
          trustedProxyHeader: header.toLowerCase(),
        });
        const key = await gateway.register(DOMAIN);
        const handshake = (client: string, apiKey: string) =>
          startV1GoClientTo(t, gateway, {
            domain: DOMAIN,
            apiKey,
            localTarget: "127.0.0.1:9",
            proxyHeaders: { [header.toLowerCase()]: spell(client), ...other },
          });
        for (let i = 0; i < 3; i++) {
          const end = await within(
            handshake("203.0.113.9", `wrong-${i}-${"0".repeat(58)}`).ended,
            "a refusal",
          );
          assert.equal(end.grpcStatus, GrpcCode.permissionDenied, end.grpcMessage);
        }
        const blocked = await within(handshake("203.0.113.9", key).ended, "the blocked client's refusal");
        assert.equal(
          blocked.grpcStatus,
          GrpcCode.resourceExhausted,
          "the guesser is blocked, right key or not",
        );

        handshake("198.51.100.7", key);
        await until(
          () => gateway.server.registry.hasTunnel(DOMAIN),
          "the proxy's other client's tunnel",
          30_000,
        );
        const [session] = gateway.server.registry.all();
        assert.equal(session?.remoteAddress, "198.51.100.7", "the session shows the client, not the proxy");
      },
    );
  }

  it("never blocks with HOP_AUTH_MAX_FAILURES=0", TEST_DEADLINE, async (t) => {
    const gateway = await limitedGateway(t, { authMaxFailures: "0" });
    const key = await gateway.register(DOMAIN);
    for (let i = 0; i < 15; i++) {
      const refused = await admin(gateway, "GET", `/domains/exists?domain=${DOMAIN}`, `wrong-${i}`);
      assert.equal(refused.status, 401);
    }
    for (let i = 0; i < 5; i++) await v1Handshake(t, gateway, "e".repeat(64));
    assert.equal((await admin(gateway, "GET", `/domains/exists?domain=${DOMAIN}`, ADMIN_KEY)).status, 200);
    await connectedClient(t, gateway, key);
    assertSamples(await scrape(gateway), {
      'hopgate_auth_failures_total{kind="admin"}': 15,
      'hopgate_auth_failures_total{kind="tunnel"}': 5,
      'hopgate_auth_blocked_total{kind="admin"}': 0,
      'hopgate_auth_blocked_total{kind="tunnel"}': 0,
    });
  });

  it("keeps every key out of the server's and clients' logs at trace level", TEST_DEADLINE, async (t) => {
    const secret = (label: string) => `${label}-${randomBytes(12).toString("hex")}`;
    const adminKey = secret("admin");
    const wrongAdminKeys = [secret("wrong-admin"), secret("wrong-admin")];
    const wrongClientKey = randomBytes(32).toString("hex");
    const visitorToken = secret("visitor-token");
    const visitorCookie = secret("visitor-cookie");
    const visitorProxyAuth = secret("visitor-proxy");
    const dir = await tempDir(t);
    await writeFile(join(dir, "cert.pem"), tlsFixture().cert);
    await writeFile(join(dir, "key.pem"), tlsFixture().key);
    const server = spawnHopgate(
      t,
      ["server", "--https-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0", "--debug"],
      {
        HOP_SERVER_DOMAIN: "gateway.test",
        HOP_SERVER_TLS: "files",
        HOP_SERVER_TLS_CERT: join(dir, "cert.pem"),
        HOP_SERVER_TLS_KEY: join(dir, "key.pem"),
        HOP_DATA_DIR: join(dir, "data"),
        HOP_ADMIN_API_KEY: adminKey,
        HOP_METRICS_LISTEN: "127.0.0.1:0",
        HOP_LOG_LEVEL: "trace",
        HOP_AUTH_MAX_FAILURES: "3",
      },
    );
    const port = Number((await server.waitForLine((l) => l.msg === "HopGate server listening")).https_port);
    const gateway = { port } as Gateway;
    const issued: string[] = [];
    for (const domain of [DOMAIN, "rotated.example.test"]) {
      const registered = await admin(gateway, "POST", "/domains/register", adminKey, { domain });
      assert.equal(registered.status, 200, registered.body.toString());
      issued.push((JSON.parse(registered.body.toString()) as { client_api_key: string }).client_api_key);
    }
    const rotated = await admin(gateway, "POST", "/domains/rotate-key", adminKey, {
      domain: "rotated.example.test",
    });
    assert.equal(rotated.status, 200, rotated.body.toString());
    issued.push((JSON.parse(rotated.body.toString()) as { client_api_key: string }).client_api_key);
    const [key] = issued as [string];

    const backend = await startBackend(t, echoHandler);
    const clientArgs = ["client", "--server", `https://127.0.0.1:${port}`, "--domain", DOMAIN];
    const clientEnv = { HOP_CLIENT_CA_FILE: join(dir, "cert.pem"), HOP_LOG_LEVEL: "trace" };
    const client = spawnHopgate(
      t,
      [...clientArgs, "--api-key", key, "--service", `web=${backend.url}`],
      clientEnv,
    );
    await client.waitForLine((l) => l.msg === "tunnel accepted");
    for (const http2 of [false, true]) {
      const response = await visit(port, DOMAIN, "/private", {
        http2,
        headers: {
          authorization: `Bearer ${visitorToken}`,
          cookie: `session=${visitorCookie}`,
          "proxy-authorization": `Basic ${visitorProxyAuth}`,
        },
      });
      assert.equal(response.status, 200);
      const echo = JSON.parse(response.body.toString()) as Echo;
      assert.deepEqual(echoed(echo, "authorization"), [`Bearer ${visitorToken}`], "the backend got it");
    }
    await client.waitForLine((l) => l.msg === "request served");

    // Failures: a client with a wrong key (given by environment), two wrong admin keys; then blocked.
    const wrongClient = spawnHopgate(t, clientArgs, {
      ...clientEnv,
      HOP_CLIENT_API_KEY: wrongClientKey,
      HOP_CLIENT_LOCAL_TARGET: "127.0.0.1:9",
    });
    await wrongClient.waitForLine((l) => String(l.msg).startsWith("server rejected this client"));
    for (const wrong of wrongAdminKeys) {
      assert.equal((await admin(gateway, "GET", `/domains/exists?domain=${DOMAIN}`, wrong)).status, 401);
    }
    await server.waitForLine((l) => l.msg === "address blocked after repeated failed authentications");
    assert.equal((await admin(gateway, "GET", "/domains", adminKey)).status, 429);
    const blockedClient = spawnHopgate(t, [...clientArgs, "--service", `web=${backend.url}`], {
      ...clientEnv,
      HOP_CLIENT_API_KEY: key,
    });
    await blockedClient.waitForLine((l) => String(l.msg).includes("too many failed authentications"));

    const processes: Array<[string, HopgateProcess]> = [
      ["server", server],
      ["client", client],
      ["wrong-key client", wrongClient],
      ["blocked client", blockedClient],
    ];
    for (const [, process] of processes) process.child.kill("SIGTERM");
    for (const [name, process] of processes)
      assert.equal(await within(process.exited, `the ${name} to exit on SIGTERM`), 0, name);
    const secrets = [adminKey, ...wrongAdminKeys, ...issued, wrongClientKey];
    const visitorSecrets = [visitorToken, visitorCookie, visitorProxyAuth];
    for (const [name, process] of processes) {
      const output = process.output();
      for (const value of [...secrets, ...visitorSecrets])
        assert.ok(!output.includes(value), `${name} logged a secret (${value.split("-")[0]}):\n${output}`);
    }
    const serverMessages = new Set(server.lines.map((l) => l.msg));
    for (const msg of ["tunnel handshake rejected", "tunnel connected", "request", "HopGate server stopped"])
      assert.ok(serverMessages.has(msg), `the server logged "${msg}"`);
  });
});
