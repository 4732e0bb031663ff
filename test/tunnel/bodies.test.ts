import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, it } from "node:test";
import { startBackend, type BackendHandler } from "../helpers/backend.js";
import { startGateway, startTestClient } from "../helpers/gateway.js";
import { payload, payloadDigest, sha256, writePayload } from "../helpers/payload.js";
import { visit } from "../helpers/visit.js";

/** Echoes the request body back as it streams in, with the digest of what arrived in a trailer-free header pair. */
const streamingEcho: BackendHandler = (req, res) => {
  if (req.url?.startsWith("/download/")) {
    const length = Number(req.url.slice("/download/".length));
    res.writeHead(200, { "content-type": "application/octet-stream", "content-length": String(length) });
    return writePayload(res, length);
  }
  res.writeHead(200, { "content-type": "application/octet-stream", "x-method": req.method ?? "" });
  req.pipe(res);
};

describe("request and response bodies", () => {
  const sizes = [0, 1024, 10 * 1024 * 1024];
  const methods = ["POST", "PUT", "DELETE", "GET"];

  it("carries every method with bodies of 0 B, 1 KiB and 10 MiB both ways, byte for byte", async (t) => {
    const gateway = await startGateway(t);
    const backend = await startBackend(t, streamingEcho);
    const key = await gateway.register("bodies.example.test");
    const client = startTestClient(t, gateway, "bodies.example.test", key, [`web=${backend.url}`]);
    await client.connected;
    for (const http2 of [false, true]) {
      for (const method of methods) {
        for (const size of sizes) {
          if (method === "GET" && size > 0) continue;
          const expected = payloadDigest(size);
          const response = await visit(gateway.port, "bodies.example.test", `/echo?size=${size}`, {
            method,
            http2,
            body: payload(size),
            headers: size > 0 && !http2 ? { "content-length": String(size) } : {},
          });
          const label = `${method} ${size} B over ${http2 ? "HTTP/2" : "HTTP/1.1"}`;
          assert.equal(response.status, 200, label);
          assert.equal(response.headers["x-method"], method, label);
          assert.equal(response.body.length, size, label);
          assert.equal(sha256(response.body), expected, label);
        }
      }
    }
  });

  it("streams chunked uploads (no Content-Length) and 10 MiB downloads", async (t) => {
    const gateway = await startGateway(t);
    const backend = await startBackend(t, streamingEcho);
    const key = await gateway.register("chunked.example.test");
    await startTestClient(t, gateway, "chunked.example.test", key, [`web=${backend.url}`]).connected;
    const upload = await visit(gateway.port, "chunked.example.test", "/echo", {
      method: "POST",
      body: payload(3 * 1024 * 1024, 1000),
    });
    assert.equal(upload.status, 200);
    assert.equal(sha256(upload.body), payloadDigest(3 * 1024 * 1024));
    const size = 10 * 1024 * 1024;
    const download = await visit(gateway.port, "chunked.example.test", `/download/${size}`);
    assert.equal(download.headers["content-length"], String(size));
    assert.equal(sha256(download.body), payloadDigest(size));
  });

  it("answers HEAD with the backend's headers and no body", async (t) => {
    const gateway = await startGateway(t);
    const backend = await startBackend(t, (_req, res) => {
      res.writeHead(200, { "content-length": "1234", "x-head": "yes" });
      res.end();
    });
    const key = await gateway.register("head.example.test");
    await startTestClient(t, gateway, "head.example.test", key, [`web=${backend.url}`]).connected;
    for (const http2 of [false, true]) {
      const response = await visit(gateway.port, "head.example.test", "/", { method: "HEAD", http2 });
      assert.equal(response.status, 200);
      assert.equal(response.headers["content-length"], "1234");
      assert.equal(response.headers["x-head"], "yes");
      assert.equal(response.body.length, 0);
    }
  });

  it("serves 100 concurrent requests, each with its own correct body", async (t) => {
    const gateway = await startGateway(t);
    const backend = await startBackend(t, streamingEcho);
    const key = await gateway.register("many.example.test");
    await startTestClient(t, gateway, "many.example.test", key, [`web=${backend.url}`]).connected;
    const results = await Promise.all(
      Array.from({ length: 100 }, async (_, i) => {
        const body = Buffer.from(`request ${i} `.repeat(100 + i));
        const response = await visit(gateway.port, "many.example.test", `/echo/${i}`, {
          method: "POST",
          body,
          http2: i % 2 === 0,
        });
        return response.status === 200 && response.body.equals(body);
      }),
    );
    assert.equal(results.filter(Boolean).length, 100);
  });

  it("keeps an upload's digest when the body arrives in many tiny chunks", async (t) => {
    const gateway = await startGateway(t);
    const backend = await startBackend(t, (req, res) => {
      const hash = createHash("sha256");
      let length = 0;
      req.on("data", (chunk: Buffer) => {
        hash.update(chunk);
        length += chunk.length;
      });
      req.on("end", () => res.end(JSON.stringify({ sha: hash.digest("hex"), length })));
    });
    const key = await gateway.register("tiny.example.test");
    await startTestClient(t, gateway, "tiny.example.test", key, [`web=${backend.url}`]).connected;
    const size = 256 * 1024;
    const response = await visit(gateway.port, "tiny.example.test", "/", {
      method: "PUT",
      body: payload(size, 100),
      http2: true,
    });
    assert.deepEqual(JSON.parse(response.body.toString()), { sha: payloadDigest(size), length: size });
  });
});
