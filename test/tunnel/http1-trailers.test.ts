import assert from "node:assert/strict";
import type { IncomingHttpHeaders } from "node:http";
import https from "node:https";
import { tlsFixture } from "../helpers/tls-fixture.js";
import { describe, it, type TestContext } from "node:test";
import { startBackend } from "../helpers/backend.js";
import { startGateway, startTestClient } from "../helpers/gateway.js";
import { visit } from "../helpers/visit.js";
import { within } from "../helpers/within.js";

const DOMAIN = "chunked.example.test";

/** A gateway and client in front of an HTTP/1.1 backend whose chunked response ends with trailers. */
async function setup(t: TestContext) {
  const gateway = await startGateway(t);
  const requestTrailers: IncomingHttpHeaders[] = [];
  const backend = await startBackend(t, (req, res) => {
    req.resume();
    req.on("end", () => {
      if (req.method === "POST") requestTrailers.push(req.trailers);
      res.writeHead(200, { "content-type": "text/plain", trailer: "x-checksum" });
      res.write("part1,");
      res.addTrailers({ "x-checksum": "abc123", "set-cookie": "late=1" });
      res.end("part2");
    });
  });
  const key = await gateway.register(DOMAIN);
  await within(
    startTestClient(t, gateway, DOMAIN, key, [`web=${backend.url}`]).connected,
    "the client to connect",
  );
  return Object.assign(gateway, { requestTrailers });
}

describe("trailers of an HTTP/1.1 backend's chunked response", () => {
  it("reach an HTTP/1.1 visitor that sent TE: trailers, and an HTTP/2 visitor; set-cookie never as a trailer", async (t) => {
    const gateway = await setup(t);
    for (const [label, options] of [
      ["HTTP/1.1, TE: trailers", { headers: { te: "trailers" } }],
      ["HTTP/2", { http2: true }],
    ] as const) {
      const response = await visit(gateway.port, DOMAIN, "/", options);
      assert.equal(response.body.toString(), "part1,part2", label);
      assert.equal(response.trailers["x-checksum"], "abc123", label);
      assert.equal(response.trailers["set-cookie"], undefined, label);
    }
  });

  it("are dropped for an HTTP/1.1 visitor that did not ask for them, the body intact", async (t) => {
    const gateway = await setup(t);
    for (const te of [undefined, "gzip", "deflate, chunked"]) {
      const response = await visit(gateway.port, DOMAIN, "/", te === undefined ? {} : { headers: { te } });
      assert.equal(response.status, 200);
      assert.equal(response.body.toString(), "part1,part2", String(te));
      assert.deepEqual(response.trailers, {}, String(te));
    }
  });

  it("carries an HTTP/1.1 visitor's chunked request trailers to the backend, validated", async (t) => {
    const gateway = await setup(t);
    await new Promise<void>((resolve, reject) => {
      const req = https.request({
        host: "127.0.0.1",
        port: gateway.port,
        method: "POST",
        path: "/upload",
        servername: DOMAIN,
        headers: { host: DOMAIN, "transfer-encoding": "chunked" },
        ca: tlsFixture().cert,
        agent: false,
      });
      req.on("error", reject);
      req.on("response", (res) => res.resume().on("end", resolve));
      req.write("chunk,");
      req.addTrailers({ "x-upload-digest": "d1", host: "evil.example" });
      req.end("last");
    });
    assert.equal(gateway.requestTrailers.length, 1);
    assert.equal(gateway.requestTrailers[0]?.["x-upload-digest"], "d1");
    assert.equal(gateway.requestTrailers[0]?.host, undefined, "host is never a trailer");
  });
});
