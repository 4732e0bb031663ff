import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { startLokiReceiver } from "../helpers/loki-receiver.js";
import { waitUntil } from "../helpers/prometheus-server.js";
import { cleanEnv, COMPILED_CLI } from "../helpers/run-cli.js";
import { tempDir } from "../helpers/temp-dir.js";
import { tlsFixture } from "../helpers/tls-fixture.js";
import { HOPGATE_NODE_FLAGS } from "../../src/lib/node-flags.js";

const ADMIN_KEY = "process-test-admin-key-0123456789";
const LOKI_PASSWORD = "process-test-loki-password";

describe("hopgate server process", () => {
  it("writes only JSON lines with the required fields, serves health, pushes to Loki, stops on SIGTERM", async (t) => {
    const dir = await tempDir(t);
    const loki = await startLokiReceiver(t);
    await writeFile(join(dir, "cert.pem"), tlsFixture().cert);
    await writeFile(join(dir, "key.pem"), tlsFixture().key);
    const child = spawn(process.execPath, [...HOPGATE_NODE_FLAGS, COMPILED_CLI, "server"], {
      cwd: dir,
      env: cleanEnv({
        HOP_SERVER_DOMAIN: "gateway.test",
        HOP_SERVER_HTTPS_LISTEN: "127.0.0.1:0",
        HOP_SERVER_HTTP_LISTEN: "127.0.0.1:0",
        HOP_SERVER_TLS: "files",
        HOP_SERVER_TLS_CERT: join(dir, "cert.pem"),
        HOP_SERVER_TLS_KEY: join(dir, "key.pem"),
        HOP_DATA_DIR: join(dir, "data"),
        HOP_ADMIN_API_KEY: ADMIN_KEY,
        HOP_METRICS_LISTEN: "127.0.0.1:0",
        HOP_LOKI_ENABLE: "true",
        HOP_LOKI_ENDPOINT: loki.url,
        HOP_LOKI_USERNAME: "hopgate",
        HOP_LOKI_PASSWORD: LOKI_PASSWORD,
        HOP_LOKI_STATIC_LABELS: "app=hopgate,env=test",
        HOP_SHUTDOWN_TIMEOUT_SECONDS: "1",
      }),
      stdio: ["ignore", "pipe", "pipe"],
    });
    t.after(() => child.kill("SIGKILL"));
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));

    let metricsPort = 0;
    await waitUntil(
      () => {
        const ready =
          /"msg":"metrics listener ready"/.test(stdout) &&
          /"port":(\d+)/.exec(stdout.split("\n").find((l) => l.includes("metrics listener ready")) ?? "");
        if (ready) metricsPort = Number(ready[1]);
        return Promise.resolve(metricsPort > 0 && stdout.includes("HopGate server listening"));
      },
      30_000,
      () => `the server did not start; stdout:\n${stdout}\nstderr:\n${stderr}`,
    );
    assert.equal((await fetch(`http://127.0.0.1:${metricsPort}/healthz`)).status, 200);
    assert.equal((await fetch(`http://127.0.0.1:${metricsPort}/readyz`)).status, 200);
    await loki.waitForLines(2);

    child.kill("SIGTERM");
    assert.equal(await exited, 0, stderr);
    assert.equal(stderr, "");
    const lines = stdout.trim().split("\n");
    for (const line of lines) {
      const entry = JSON.parse(line) as Record<string, unknown>;
      for (const field of ["ts", "level", "msg", "component", "service"]) {
        assert.ok(entry[field] !== undefined, `${field} missing in ${line}`);
      }
      assert.ok(!line.includes(ADMIN_KEY) && !line.includes(LOKI_PASSWORD), `a secret leaked: ${line}`);
    }
    assert.ok(lines.some((line) => line.includes('"msg":"HopGate server stopped"')));
    const pushed = loki.lines();
    assert.ok(
      pushed.some((entry) => entry.msg === "HopGate server stopped"),
      "the last lines reach Loki on exit",
    );
    assert.deepEqual(loki.pushes[0]!.streams[0]!.stream.app, "hopgate");
  });
});
