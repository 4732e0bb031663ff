import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { clientSettings } from "../../src/config/client-settings.js";
import { loadConfig } from "../../src/config/load-config.js";
import { serverSettings } from "../../src/config/server-settings.js";
import { startServer } from "../../src/server/start-server.js";
import { startBackend } from "../helpers/backend.js";
import { startGateway, testLogger } from "../helpers/gateway.js";
import { tempDir } from "../helpers/temp-dir.js";
import { startClientProcess } from "../helpers/server-process.js";
import { visit } from "../helpers/visit.js";
import { startClient } from "../../src/client/start-client.js";
import { join } from "node:path";
import { writeFile } from "node:fs/promises";
import { tlsFixture } from "../helpers/tls-fixture.js";

interface Outcome {
  readonly startedAt: number;
  readonly endedAt: number;
  readonly status: number;
  readonly backend: string | undefined;
}

describe("failover and reconnection", () => {
  it("when one of two clients of a domain is killed under load, only its in-flight requests fail, with 502 within 1 s", async (t) => {
    const gateway = await startGateway(t);
    const key = await gateway.register("ha.example.test");
    const backendOf = (name: string) =>
      startBackend(t, (_req, res) => {
        setTimeout(() => {
          res.writeHead(200, { "x-backend": name });
          res.end(name);
        }, 150);
      });
    const [a, b] = await Promise.all([backendOf("a"), backendOf("b")]);
    const clientOf = (backendUrl: string) =>
      startClientProcess(t, {
        serverPort: gateway.port,
        caFile: gateway.caFile,
        domain: "ha.example.test",
        apiKey: key,
        backendUrl,
      });
    const victim = clientOf(a.url);
    const survivor = clientOf(b.url);
    await Promise.all([victim, survivor].map((p) => p.waitForLine((line) => line.msg === "tunnel accepted")));

    const outcomes: Outcome[] = [];
    let running = true;
    const worker = async () => {
      while (running) {
        const startedAt = Date.now();
        const response = await visit(gateway.port, "ha.example.test", "/", { timeoutMs: 10_000 }).catch(
          () => undefined,
        );
        outcomes.push({
          startedAt,
          endedAt: Date.now(),
          status: response?.status ?? 0,
          backend: response?.headers["x-backend"] as string | undefined,
        });
      }
    };
    const workers = Array.from({ length: 20 }, worker);
    // Load runs until both clients have served (a busy machine may take a while), then a bit more.
    const servedBy = (name: string) => outcomes.some((o) => o.backend === name);
    for (const waitUntil = Date.now() + 15_000; !(servedBy("a") && servedBy("b")) && Date.now() < waitUntil;)
      await sleep(50);
    await sleep(300);
    const killedAt = Date.now();
    victim.child.kill("SIGKILL");
    await sleep(2000);
    running = false;
    await Promise.all(workers);

    const failures = outcomes.filter((o) => o.status !== 200);
    const before = outcomes.filter((o) => o.endedAt < killedAt);
    const after = outcomes.filter((o) => o.startedAt > killedAt + 250);
    const slowestFailureMs = Math.max(0, ...failures.map((o) => o.endedAt - killedAt));
    t.diagnostic(
      `${outcomes.length} requests, ${failures.length} failed (the last ${slowestFailureMs} ms after the kill), ` +
        `${after.length} started after the kill`,
    );
    assert.ok(
      before.some((o) => o.backend === "a") && before.some((o) => o.backend === "b"),
      "both clients served before the kill",
    );
    assert.ok(failures.length > 0, "the victim had requests in flight");
    for (const failure of failures) {
      assert.equal(failure.status, 502, "a failed request gets the server's 502");
      assert.ok(failure.startedAt < killedAt + 250, "only requests in flight at the kill fail");
      assert.ok(failure.endedAt - killedAt < 1000, `failed ${failure.endedAt - killedAt} ms after the kill`);
    }
    assert.ok(after.length > 20, "requests kept flowing");
    assert.ok(
      after.every((o) => o.status === 200 && o.backend === "b"),
      "every later request is served by the other client",
    );
  });

  it("serves again within 5 s after the server restarts", async (t) => {
    const dir = await tempDir(t);
    await writeFile(join(dir, "cert.pem"), tlsFixture().cert);
    await writeFile(join(dir, "key.pem"), tlsFixture().key);
    const serverConfig = (port: number) =>
      loadConfig(serverSettings, {
        env: {},
        dotenvDir: null,
        flags: {
          domain: "gateway.test",
          httpsListen: `127.0.0.1:${port}`,
          httpListen: "127.0.0.1:0",
          metricsListen: "off",
          dataDir: join(dir, "data"),
          tls: "files",
          tlsCertFile: join(dir, "cert.pem"),
          tlsKeyFile: join(dir, "key.pem"),
          debug: "true",
        },
      });
    let server = await startServer(serverConfig(0), testLogger());
    const port = server.httpsPort;
    t.after(() => server.stop());
    const { clientApiKey } = await server.domains.register("again.example.test", "restart");
    const backend = await startBackend(t, (_req, res) => res.end("hello"));
    const client = await startClient(
      loadConfig(clientSettings, {
        env: {},
        dotenvDir: null,
        flags: {
          serverAddr: `https://127.0.0.1:${port}`,
          domain: "again.example.test",
          apiKey: clientApiKey,
          services: [`web=${backend.url}`],
          caFile: join(dir, "cert.pem"),
          shutdownTimeoutSeconds: "1",
        },
      }),
      testLogger(),
    );
    t.after(() => client.stop());
    await waitForStatus(port, "again.example.test", 200, 10_000);

    await server.stop();
    await sleep(500);
    server = await startServer(serverConfig(port), testLogger());
    const restartedAt = Date.now();
    await waitForStatus(port, "again.example.test", 200, 15_000);
    const elapsed = Date.now() - restartedAt;
    t.diagnostic(`served again ${elapsed} ms after the restart`);
    assert.ok(elapsed < 5000, `the client served again only after ${elapsed} ms`);
  });
});

async function waitForStatus(port: number, host: string, status: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const response = await visit(port, host, "/", { timeoutMs: 2000 }).catch(() => undefined);
    if (response?.status === status) return;
    if (Date.now() > deadline) throw new Error(`no ${status} from ${host} within ${timeoutMs} ms`);
    await sleep(50);
  }
}
