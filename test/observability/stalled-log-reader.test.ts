import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { Agent, request } from "node:https";
import { join } from "node:path";
import { describe, it } from "node:test";
import { sendRequest } from "../helpers/http-request.js";
import { spawnHopgate } from "../helpers/hopgate-process.js";
import { pollUntil } from "../helpers/poll-until.js";
import { tempDir } from "../helpers/temp-dir.js";
import { tlsFixture } from "../helpers/tls-fixture.js";

/** Access lines carry 2 KiB of the path: 1,500 requests log about 3.5 MB, three times the 1 MiB bound. */
const PATH = `/${"p".repeat(6000)}`;
const REQUESTS = 1500;
const CONCURRENCY = 6;
/** Wide: a busy 2-core machine must not fail it; a stalled server never answers at all. */
const REQUEST_DEADLINE_MS = 60_000;

describe("logging to a reader that stops reading", () => {
  it("keeps answering requests and counts the lines it drops", async (t) => {
    const dir = await tempDir(t);
    const certFile = join(dir, "cert.pem");
    const keyFile = join(dir, "key.pem");
    await writeFile(certFile, tlsFixture().cert);
    await writeFile(keyFile, tlsFixture().key);
    const server = spawnHopgate(t, [
      "server",
      ...["--domain", "gateway.test", "--https-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0"],
      ...["--metrics-listen", "127.0.0.1:0", "--tls", "files", "--tls-cert", certFile, "--tls-key", keyFile],
      ...["--data-dir", join(dir, "data")],
    ]);
    const listening = await server.waitForLine((line) => line.msg === "HopGate server listening");
    const httpsPort = Number(listening.https_port);
    const metricsPort = Number(listening.metrics_port);

    // From here on nobody reads the server's stdout: the pipe fills after about 64 KiB.
    server.child.stdout?.pause();
    const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY, ca: tlsFixture().cert });
    t.after(() => agent.destroy());
    let next = 0;
    const statuses = new Map<number, number>();
    const worker = async () => {
      while (next < REQUESTS) {
        next++;
        const status = await get(agent, httpsPort);
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    assert.deepEqual([...statuses], [[404, REQUESTS]]);

    const metrics = await sendRequest(`http://127.0.0.1:${metricsPort}/metrics`);
    const dropped = Number(/^hopgate_log_lines_dropped_total (\d+)$/m.exec(metrics.text)?.[1]);
    assert.ok(dropped > 0, `hopgate_log_lines_dropped_total is ${dropped}`);
    assert.ok(dropped < REQUESTS, `dropped ${dropped} of ${REQUESTS} lines: the buffer kept none`);

    // Once the reader reads again, the backlog drains and new lines are written again.
    server.child.stdout?.resume();
    await pollUntil(
      async () => {
        await get(agent, httpsPort, "/after-resume");
        return server.lines.some((line) => line.path === "/after-resume");
      },
      REQUEST_DEADLINE_MS,
      () => "no access line written after the reader resumed",
      200,
    );
  });
});

function get(agent: Agent, port: number, path = PATH): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({
      host: "127.0.0.1",
      port,
      path,
      agent,
      servername: "localhost",
      headers: { host: "unknown.example.test" },
      signal: AbortSignal.timeout(REQUEST_DEADLINE_MS),
    });
    req.on("error", reject);
    req.on("response", (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.end();
  });
}
