import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { startBackend } from "../helpers/backend.js";
import { hashedVisit } from "../helpers/hash-visit.js";
import { spawnHopgate } from "../helpers/hopgate-process.js";
import { payload, payloadDigest, writePayload } from "../helpers/payload.js";
import { tempDir } from "../helpers/temp-dir.js";
import { tlsFixture } from "../helpers/tls-fixture.js";
import { startClientProcess } from "../helpers/server-process.js";
import { visit } from "../helpers/visit.js";

const MiB = 1024 * 1024;
const SIZE = 200 * MiB;
const RSS_LIMIT_BYTES = 150 * MiB;
const ADMIN_KEY = "test-admin-key-0123456789";

describe("200 MiB through server and client processes", () => {
  it("moves 200 MiB each way intact while both processes stay under 150 MB RSS", async (t) => {
    const dir = await tempDir(t);
    await writeFile(join(dir, "cert.pem"), tlsFixture().cert);
    await writeFile(join(dir, "key.pem"), tlsFixture().key);
    const server = spawnHopgate(
      t,
      [
        "server",
        "--domain",
        "gateway.test",
        "--https-listen",
        "127.0.0.1:0",
        "--http-listen",
        "127.0.0.1:0",
        "--metrics-listen",
        "127.0.0.1:0",
        "--tls",
        "files",
        "--tls-cert",
        join(dir, "cert.pem"),
        "--tls-key",
        join(dir, "key.pem"),
        "--data-dir",
        join(dir, "data"),
        "--debug",
      ],
      { HOP_ADMIN_API_KEY: ADMIN_KEY },
    );
    const listening = await server.waitForLine((line) => line.msg === "HopGate server listening");
    const port = Number(listening.https_port);
    const registered = await visit(port, "gateway.test", "/api/v1/admin/domains/register", {
      method: "POST",
      headers: { authorization: `Bearer ${ADMIN_KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ domain: "big.example.test", memo: "large transfer" }),
    });
    assert.equal(registered.status, 200, registered.body.toString());
    const key = (JSON.parse(registered.body.toString()) as { client_api_key: string }).client_api_key;

    const backend = await startBackend(t, (req, res) => {
      if (req.method === "GET") {
        res.writeHead(200, { "content-length": String(SIZE) });
        return writePayload(res, SIZE);
      }
      const hash = createHash("sha256");
      let length = 0;
      req.on("data", (chunk: Buffer) => {
        hash.update(chunk);
        length += chunk.length;
      });
      req.on("end", () => res.end(JSON.stringify({ length, sha256: hash.digest("hex") })));
    });
    const client = startClientProcess(t, {
      serverPort: port,
      caFile: join(dir, "cert.pem"),
      domain: "big.example.test",
      apiKey: key,
      backendUrl: backend.url,
    });
    await client.waitForLine((line) => line.msg === "tunnel accepted");

    const peaks = { server: 0, client: 0 };
    const sampler = setInterval(() => {
      peaks.server = Math.max(peaks.server, server.rssBytes());
      peaks.client = Math.max(peaks.client, client.rssBytes());
    }, 100);
    t.after(() => clearInterval(sampler));

    const expected = payloadDigest(SIZE);
    const download = await hashedVisit(port, "big.example.test", "/download");
    assert.equal(download.status, 200);
    assert.equal(download.length, SIZE);
    assert.equal(download.sha256, expected);

    const upload = await hashedVisit(port, "big.example.test", "/upload", {
      method: "POST",
      body: payload(SIZE),
    });
    const received = JSON.parse(upload.text) as { length: number; sha256: string };
    clearInterval(sampler);
    assert.deepEqual(received, { length: SIZE, sha256: expected });
    t.diagnostic(
      `peak RSS: server ${(peaks.server / MiB).toFixed(1)} MiB, client ${(peaks.client / MiB).toFixed(1)} MiB`,
    );
    assert.ok(peaks.server < RSS_LIMIT_BYTES, `server RSS peaked at ${(peaks.server / MiB).toFixed(1)} MiB`);
    assert.ok(peaks.client < RSS_LIMIT_BYTES, `client RSS peaked at ${(peaks.client / MiB).toFixed(1)} MiB`);
  });
});
