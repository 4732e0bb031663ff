import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { startBackend } from "../helpers/backend.js";
import { startGateway, startTestClient } from "../helpers/gateway.js";
import { rawVisitor } from "../helpers/raw-visitor.js";

const DOMAIN = "app.example.test";

describe("repeated Host field (RFC 9112 §3.2)", () => {
  it("answers an HTTP/1.1 request with two Host field lines with 400 and forwards nothing", async (t) => {
    const gateway = await startGateway(t);
    const seen: string[] = [];
    const backend = await startBackend(t, (req, res) => {
      seen.push(req.url ?? "");
      res.end("ok");
    });
    const key = await gateway.register(DOMAIN);
    await startTestClient(t, gateway, DOMAIN, key, [`web=${backend.url}`]).connected;

    // Control: one Host field is proxied, so a 400 below cannot come from a broken setup.
    const single = await rawVisitor(gateway.port, DOMAIN);
    single.socket.write(`GET /single HTTP/1.1\r\nHost: ${DOMAIN}\r\nConnection: close\r\n\r\n`);
    assert.match((await single.outcome(30_000)).received, /^HTTP\/1\.1 200 /);
    assert.deepEqual(seen, ["/single"]);

    const cases: Array<[string, string, string]> = [
      ["the same host twice", "/same", `Host: ${DOMAIN}\r\nHost: ${DOMAIN}\r\n`],
      ["a tenant, then another host", "/tenant-first", `Host: ${DOMAIN}\r\nhost: other.example.test\r\n`],
      ["another host, then a tenant", "/tenant-last", `Host: other.example.test\r\nHOST: ${DOMAIN}\r\n`],
      [
        "the main domain's admin API, then a tenant",
        "/api/v1/admin/domains/exists?domain=x",
        `Host: gateway.test\r\nHost: ${DOMAIN}\r\n`,
      ],
    ];
    for (const [label, path, hosts] of cases) {
      const visitor = await rawVisitor(gateway.port, DOMAIN);
      visitor.socket.write(`GET ${path} HTTP/1.1\r\n${hosts}\r\n`);
      const outcome = await visitor.outcome(30_000);
      assert.match(outcome.received, /^HTTP\/1\.1 400 Bad Request\r\n/, label);
      assert.match(outcome.received, /\r\nconnection: close\r\n/i, label);
      assert.ok(outcome.closed, `${label}: connection closed`);
    }
    await sleep(300);
    assert.deepEqual(seen, ["/single"], "the backend saw no request with two Host fields");
  });
});
