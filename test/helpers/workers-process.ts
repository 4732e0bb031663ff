import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { sendRequest, type TestResponse } from "./http-request.js";
import { spawnHopgate, type HopgateProcess } from "./hopgate-process.js";
import { MAIN_DOMAIN } from "./server-process.js";
import { tlsFixture } from "./tls-fixture.js";

const ADMIN_API_KEY = "workers-test-admin-key-0123456789";

export interface WorkersProcess {
  readonly process: HopgateProcess;
  /** The shared TLS port. */
  readonly httpsPort: number;
  /** The shared plain HTTP port. */
  readonly httpPort: number;
  /** The primary's metrics listener (the workers' summed metrics). */
  readonly metricsPort: number;
  readonly caFile: string;
  /** Registry ids the workers reported so far (restarted workers add theirs), by log line. */
  serverIds(): string[];
  /** Pids of every worker started so far, from the primary's log. */
  workerPids(): number[];
  /** One admin API request on a new connection (it lands on any worker). */
  admin(path: string, init?: { method?: string; body?: unknown }): Promise<TestResponse>;
  /** Registers `domain` and returns its client API key. */
  register(domain: string): Promise<string>;
}

/**
 * `hopgate server --workers <workers>` as a real process (compiled CLI) on 127.0.0.1:0, the test
 * certificate, the embedded store in `dir`/data unless `env` names HOP_DB_DSN. Resolves once the
 * primary logs that every worker listens. Every worker it started is killed when the test ends
 * (the primary itself is killed by spawnHopgate).
 */
export async function startWorkersProcess(
  t: TestContext,
  dir: string,
  workers: number | string,
  env: Record<string, string> = {},
): Promise<WorkersProcess> {
  const certFile = join(dir, "cert.pem");
  const keyFile = join(dir, "key.pem");
  await writeFile(certFile, tlsFixture().cert);
  await writeFile(keyFile, tlsFixture().key);
  const server = spawnHopgate(
    t,
    [
      "server",
      ...["--workers", String(workers), "--domain", MAIN_DOMAIN],
      ...["--https-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"],
      ...["--tls", "files", "--tls-cert", certFile, "--tls-key", keyFile],
      ...["--data-dir", join(dir, "data"), "--shutdown-timeout-seconds", "5", "--debug"],
    ],
    { HOP_ADMIN_API_KEY: ADMIN_API_KEY, ...env },
  );
  const workerLines = () =>
    server.lines.filter((l) => l.component === "primary" && typeof l.pid === "number");
  t.after(() => {
    for (const pid of new Set(workerLines().map((l) => Number(l.pid)))) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
  });
  const listening = await server.waitForLine((line) => line.msg === "HopGate workers listening", 60_000);
  const httpsPort = Number(listening.https_port);
  const admin = (path: string, init: { method?: string; body?: unknown } = {}) =>
    sendRequest(`https://127.0.0.1:${httpsPort}/api/v1/admin${path}`, {
      method: init.method ?? "GET",
      ca: tlsFixture().cert,
      headers: {
        host: MAIN_DOMAIN,
        authorization: `Bearer ${ADMIN_API_KEY}`,
        ...(init.body === undefined ? {} : { "content-type": "application/json" }),
      },
      ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
    });
  return {
    process: server,
    httpsPort,
    httpPort: Number(listening.http_port),
    metricsPort: Number(listening.metrics_port),
    caFile: certFile,
    serverIds: () =>
      server.lines.filter((l) => l.msg === "joined the server registry").map((l) => String(l.server_id)),
    workerPids: () => [...new Set(workerLines().map((l) => Number(l.pid)))],
    admin,
    register: async (domain) => {
      const answer = await admin("/domains/register", {
        method: "POST",
        body: { domain, memo: "workers test" },
      });
      if (answer.status !== 200 && answer.status !== 201)
        throw new Error(`registering ${domain}: ${answer.status} ${answer.text}`);
      return answer.json<{ client_api_key: string }>().client_api_key;
    },
  };
}

/**
 * Stops (SIGSTOP) the worker listening in `slot`, by the primary's "worker listening" line: a
 * worker hung after it listens. It is continued when the test ends (unless killed meanwhile).
 * Returns its pid.
 */
export function hangListeningWorker(t: TestContext, gateway: WorkersProcess, slot: number): number {
  const line = gateway.process.lines.find((l) => l.msg === "worker listening" && l.slot === slot);
  const pid = Number(line?.pid);
  if (!(pid > 0)) throw new Error(`worker ${slot} has not logged that it listens`);
  process.kill(pid, "SIGSTOP");
  t.after(() => {
    try {
      process.kill(pid, "SIGCONT");
    } catch {
      // killed meanwhile (the liveness watchdog, or the test)
    }
  });
  return pid;
}
