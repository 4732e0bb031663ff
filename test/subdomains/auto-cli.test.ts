import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { startBackend } from "../helpers/backend.js";
import { cleanEnv, runCli } from "../helpers/run-cli.js";
import { startClientProcess, startServerProcess } from "../helpers/server-process.js";
import { tempDir } from "../helpers/temp-dir.js";
import { visit } from "../helpers/visit.js";

describe("hopgate client --domain auto", () => {
  it("gets a random label under the wildcard registered through the admin API and prints its public URL", async (t) => {
    const server = await startServerProcess(t, await tempDir(t));
    const backend = await startBackend(t, (_req, res) => res.end("hello from auto"));
    // The admin API accepts the wildcard and returns its key once.
    const key = await server.register("*.example.test");
    const client = startClientProcess(t, {
      serverPort: server.httpsPort,
      caFile: server.caFile,
      domain: "auto",
      apiKey: key,
      backendUrl: backend.url,
    });
    const printed = await client.waitForLine((line) => typeof line.url === "string");
    const url = new URL(String(printed.url));
    assert.match(url.hostname, /^[a-z][a-z2-7]{15}\.example\.test$/);
    assert.equal(url.protocol, "https:");
    assert.equal(Number(url.port), server.httpsPort);
    assert.equal(printed.msg, `public URL: ${url.origin}`);
    const response = await visit(server.httpsPort, url.host, "/");
    assert.equal(response.status, 200);
    assert.equal(response.body.toString(), "hello from auto");

    // The operator sees the label and its tunnel under the wildcard.
    const status = await runCli(
      [
        "admin",
        "domains",
        "status",
        "*.example.test",
        "--server-url",
        `https://127.0.0.1:${server.httpsPort}`,
      ],
      { env: cleanEnv({ HOP_ADMIN_API_KEY: server.adminApiKey, HOP_ADMIN_CA_FILE: server.caFile }) },
    );
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, new RegExp(`^ {2}labels: {2}${url.hostname.replaceAll(".", "\\.")}$`, "m"));
    assert.match(status.stdout, /^ {2}live sessions: 1$/m);

    // Revoking the wildcard ends the label's tunnel; the label then answers as unknown.
    const revoked = await runCli(
      [
        "admin",
        "domains",
        "revoke",
        "*.example.test",
        "--server-url",
        `https://127.0.0.1:${server.httpsPort}`,
      ],
      { env: cleanEnv({ HOP_ADMIN_API_KEY: server.adminApiKey, HOP_ADMIN_CA_FILE: server.caFile }) },
    );
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.equal((await visit(server.httpsPort, url.host, "/")).status, 404);
  });
});
