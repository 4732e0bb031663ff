import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { createLogger, silentLogger } from "../../src/lib/logger.js";
import { openDatabase } from "../../src/server/store/database.js";
import { createDomainRepository } from "../../src/server/store/domain-repository.js";
import { startBackend } from "../helpers/backend.js";
import { startTestClient } from "../helpers/gateway.js";
import { spawnHopgate, type HopgateProcess } from "../helpers/hopgate-process.js";
import { pollUntil } from "../helpers/poll-until.js";
import { tempDir } from "../helpers/temp-dir.js";
import { tlsFixture } from "../helpers/tls-fixture.js";
import { visit } from "../helpers/visit.js";

/** `hopgate server` as a process on `httpsPort` (0: any) with its store in `dir`/data. */
async function serverProcess(t: TestContext, dir: string, httpsPort: number): Promise<HopgateProcess> {
  const server = spawnHopgate(t, ["server"], {
    HOP_SERVER_DOMAIN: "gateway.test",
    HOP_SERVER_HTTPS_LISTEN: `127.0.0.1:${httpsPort}`,
    HOP_SERVER_HTTP_LISTEN: "127.0.0.1:0",
    HOP_SERVER_TLS: "files",
    HOP_SERVER_TLS_CERT: join(dir, "cert.pem"),
    HOP_SERVER_TLS_KEY: join(dir, "key.pem"),
    HOP_SERVER_DEBUG: "true",
    HOP_DATA_DIR: join(dir, "data"),
    HOP_METRICS_LISTEN: "off",
    HOP_SHUTDOWN_TIMEOUT_SECONDS: "1",
  });
  await server.waitForLine((line) => line.msg === "HopGate server listening");
  return server;
}

function httpsPortOf(server: HopgateProcess): number {
  const line = server.lines.find((l) => l.msg === "HopGate server listening");
  return Number(line?.https_port);
}

/** Resolves with when `domain` answered 200 with its own name (its client serves again). */
function servedAtMs(port: number, domain: string, timeoutMs: number): Promise<number> {
  return pollUntil(
    async () => {
      const response = await visit(port, domain, "/", { timeoutMs: 2_000 }).catch(() => undefined);
      return response?.status === 200 && response.body.toString() === domain;
    },
    timeoutMs,
    () => `${domain} was not served within ${timeoutMs} ms`,
    100,
  );
}

describe("faults of the server", () => {
  it("10 connected clients reconnect and serve within 10 s after the server restarts (SIGTERM, then SIGKILL)", async (t) => {
    const dir = await tempDir(t);
    await writeFile(join(dir, "cert.pem"), tlsFixture().cert);
    await writeFile(join(dir, "key.pem"), tlsFixture().key);
    const domainNames = Array.from({ length: 10 }, (_, i) => `restart-${i}.example.test`);
    const keys = new Map<string, string>();
    const store = await openDatabase({ dataDir: join(dir, "data"), logger: silentLogger() });
    const domains = createDomainRepository(store);
    for (const domain of domainNames) keys.set(domain, (await domains.register(domain, "")).clientApiKey);
    await store.close();

    let server = await serverProcess(t, dir, 0);
    const port = httpsPortOf(server);
    const backend = await startBackend(t, (req, res) => res.end(req.headers.host));
    const gateway = { port, caFile: join(dir, "cert.pem") };
    // Each client's "reconnecting" log lines: when, and the delay it chose.
    const retries = new Map<string, Array<{ atMs: number; delayMs: number }>>();
    const clients = domainNames.map((domain) => {
      const lines: Array<{ atMs: number; delayMs: number }> = [];
      retries.set(domain, lines);
      const logger = createLogger({
        level: "warn",
        destination: {
          write: (line: string) => {
            const entry = JSON.parse(line) as { msg?: string; retry_in_ms?: number };
            if (entry.msg === "tunnel down; reconnecting")
              lines.push({ atMs: Date.now(), delayMs: Number(entry.retry_in_ms) });
          },
        },
      });
      return startTestClient(t, gateway, domain, keys.get(domain) ?? "", [`web=${backend.url}`], {}, logger);
    });
    await Promise.all(clients.map((client) => client.connected));
    await Promise.all(domainNames.map((domain) => servedAtMs(port, domain, 10_000)));

    for (const signal of ["SIGTERM", "SIGKILL"] as const) {
      const stoppedAtMs = Date.now();
      server.child.kill(signal);
      await server.exited;
      server = await serverProcess(t, dir, port);
      const listeningAtMs = Date.now();
      const served = await Promise.all(domainNames.map((domain) => servedAtMs(port, domain, 30_000)));
      const restartMs = listeningAtMs - stoppedAtMs;
      const slowestMs = Math.max(...served) - listeningAtMs;
      t.diagnostic(
        `${signal}: the new server listened ${restartMs} ms after the stop; ` +
          `all 10 clients served again within ${slowestMs} ms of that ` +
          `(fastest ${Math.min(...served) - listeningAtMs} ms)`,
      );
      // Each client serves at its first attempt after the server is back: no attempt is wasted
      // (a failed one logs "reconnecting" before the client is served), none waits for a longer
      // step. The time from that attempt to service is only bounded widely (a handshake and a
      // request on a busy machine), so that load cannot fail what the log already shows.
      domainNames.forEach((domain, i) => {
        const lines = retries.get(domain) ?? [];
        const attempt = lines.map((line) => line.atMs + line.delayMs).find((atMs) => atMs >= listeningAtMs);
        const servedMs = served[i] ?? 0;
        const wasted = lines.filter(
          (line) => attempt !== undefined && line.atMs > attempt && line.atMs < servedMs,
        );
        assert.deepEqual(wasted, [], `${signal}: ${domain} failed an attempt after the server was back`);
        const lateMs = servedMs - (attempt ?? listeningAtMs);
        assert.ok(lateMs < 8_000, `${signal}: ${domain} served ${lateMs} ms after its first attempt`);
      });
      // Within 10 s of the restart: the backoff steps (1, 2, 4 s) reached in a restart of up to
      // 5 s end well within it. A slower restart (an overloaded machine) puts clients in 4-8 s
      // steps; then the per-attempt check above is what holds.
      if (restartMs < 5_000)
        assert.ok(slowestMs < 10_000, `after ${signal}, the last client served again after ${slowestMs} ms`);
      // The tunnel was up before the stop, so the backoff starts over: the first wait is at
      // most the initial 1 s, whatever earlier outages did to it.
      for (const [domain, lines] of retries) {
        const first = lines.find((line) => line.atMs >= stoppedAtMs);
        assert.ok(first, `${domain} logged its reconnect`);
        assert.ok(first.delayMs <= 1_000, `${signal}: ${domain} first waited ${first.delayMs} ms`);
      }
    }
  });
});
