import assert from "node:assert/strict";
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { describe, it, type TestContext } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { startBackend } from "../helpers/backend.js";
import { startGateway, startTestClient, type Gateway } from "../helpers/gateway.js";
import { sampleValue } from "../helpers/prometheus-text.js";
import { rawVisitor } from "../helpers/raw-visitor.js";
import { visit } from "../helpers/visit.js";

const DOMAIN = "app.example.test";
const ADMIN_KEY = "admin-key-0123456789abcdef";

interface Seen {
  readonly backend: string;
  readonly url: string;
  readonly host: string;
}

/** A gateway, and a client for DOMAIN with two services: `api` on `/api`, `web` on the rest. */
async function twoServices(t: TestContext): Promise<{ gateway: Gateway; seen: Seen[] }> {
  const gateway = await startGateway(t, { adminApiKey: ADMIN_KEY });
  const seen: Seen[] = [];
  const named = async (name: string) => {
    const backend = await startBackend(t, (req, res) => {
      seen.push({ backend: name, url: req.url ?? "", host: req.headers.host ?? "" });
      res.writeHead(200, { "x-backend": name, "x-url": req.url ?? "" });
      res.end("ok");
    });
    backend.server.on("upgrade", (req: IncomingMessage, socket: Duplex) => {
      seen.push({ backend: name, url: req.url ?? "", host: req.headers.host ?? "" });
      socket.end(
        `HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: test\r\nx-backend: ${name}\r\n\r\n`,
      );
    });
    return backend;
  };
  const [web, api] = await Promise.all([named("web"), named("api")]);
  const key = await gateway.register(DOMAIN);
  await startTestClient(t, gateway, DOMAIN, key, [`web=${web.url}`, `api:/api=${api.url}`]).connected;
  return { gateway, seen };
}

/** One raw HTTP/1.1 request (connection closed after it): the response's status line and head. */
async function rawRequest(gateway: Gateway, head: string): Promise<string> {
  const visitor = await rawVisitor(gateway.port, DOMAIN);
  visitor.socket.write(head);
  const received = await visitor.waitFor("\r\n\r\n");
  await visitor.outcome(0);
  return received;
}

describe("routing on the normalized path", () => {
  it("routes /api/../x to the default service as /x and /%61pi/x to the api service, over HTTP/1.1 and HTTP/2", async (t) => {
    const { gateway, seen } = await twoServices(t);
    const table: Array<{ path: string; backend: string; url: string }> = [
      { path: "/api/x", backend: "api", url: "/api/x" },
      { path: "/api/../x", backend: "web", url: "/x" },
      { path: "/%61pi/x", backend: "api", url: "/api/x" },
      { path: "/%41pi/x", backend: "web", url: "/Api/x" },
      { path: "/api/%2e%2e/x", backend: "web", url: "/x" },
      { path: "/api/%2E./x?q=/api/../%61", backend: "web", url: "/x?q=/api/../%61" },
      { path: "/x/../api/y", backend: "api", url: "/api/y" },
      { path: "/../x", backend: "web", url: "/x" },
      { path: "/../../api", backend: "api", url: "/api" },
      { path: "//api//y", backend: "api", url: "/api/y" },
      { path: "/./api/./y/.", backend: "api", url: "/api/y/" },
      { path: "/api%2Fy", backend: "web", url: "/api%2Fy" },
      { path: "/api%2f..%2fy", backend: "web", url: "/api%2F..%2Fy" },
      { path: "/api/caf%c3%a9", backend: "api", url: "/api/caf%C3%A9" },
    ];
    for (const http2 of [false, true]) {
      for (const row of table) {
        const label = `${row.path} over ${http2 ? "HTTP/2" : "HTTP/1.1"}`;
        const before = seen.length;
        const response = await visit(gateway.port, DOMAIN, row.path, { http2 });
        assert.equal(response.status, 200, label);
        assert.equal(response.headers["x-backend"], row.backend, label);
        assert.deepEqual(seen.slice(before), [{ backend: row.backend, url: row.url, host: DOMAIN }], label);
      }
    }
  });

  it("answers 400 to a malformed path and forwards nothing, over HTTP/1.1 and HTTP/2", async (t) => {
    const { gateway, seen } = await twoServices(t);
    for (const http2 of [false, true]) {
      for (const path of ["/api/%zz", "/api/x%", "/api/x%2", "/a%00b", "/api\\..\\x"]) {
        const response = await visit(gateway.port, DOMAIN, path, { http2 });
        assert.equal(response.status, 400, `${path} over ${http2 ? "HTTP/2" : "HTTP/1.1"}`);
      }
    }
    // The same path on the main domain: no route to the admin API through a broken escape either.
    const admin = await visit(gateway.port, "gateway.test", "/api/v1/admin/domains%zz", {
      headers: { authorization: `Bearer ${ADMIN_KEY}` },
    });
    assert.equal(admin.status, 400);
    await sleep(200);
    assert.deepEqual(seen, []);
    const metrics = await (await fetch(`http://127.0.0.1:${gateway.server.metricsPort}/metrics`)).text();
    assert.equal(sampleValue(metrics, 'hopgate_visitor_rejected_total{reason="malformed"}'), 11);
  });
});

describe("routing upgrades on the normalized path", () => {
  it("routes an HTTP/1.1 upgrade by its normalized path and refuses a malformed one", async (t) => {
    const { gateway, seen } = await twoServices(t);
    const upgrade = (path: string) =>
      rawRequest(
        gateway,
        `GET ${path} HTTP/1.1\r\nHost: ${DOMAIN}\r\nConnection: Upgrade\r\nUpgrade: test\r\n\r\n`,
      );
    const toWeb = await upgrade("/api/../ws");
    assert.match(toWeb, /^HTTP\/1\.1 101 /);
    const toApi = await upgrade("/%61pi/ws");
    assert.match(toApi, /^HTTP\/1\.1 101 /);
    const malformed = await upgrade("/api/ws%zz");
    assert.match(malformed, /^HTTP\/1\.1 400 /);
    await sleep(200);
    assert.deepEqual(seen, [
      { backend: "web", url: "/ws", host: DOMAIN },
      { backend: "api", url: "/api/ws", host: DOMAIN },
    ]);
  });
});

describe("absolute-form request targets (RFC 9112 §3.2.2)", () => {
  it("routes by the authority, which wins over Host, and forwards an origin-form path", async (t) => {
    const { gateway, seen } = await twoServices(t);
    const tenant = await rawRequest(
      gateway,
      `GET https://${DOMAIN}/api/../x?q=1 HTTP/1.1\r\nHost: other.example.test\r\nConnection: close\r\n\r\n`,
    );
    assert.match(tenant, /^HTTP\/1\.1 200 /);
    const plainScheme = await rawRequest(
      gateway,
      `GET http://${DOMAIN.toUpperCase()}:443/%61pi HTTP/1.1\r\nHost: ${DOMAIN}\r\nConnection: close\r\n\r\n`,
    );
    assert.match(plainScheme, /^HTTP\/1\.1 200 /);
    const noPath = await rawRequest(
      gateway,
      `GET https://${DOMAIN}?q=2 HTTP/1.1\r\nHost: ${DOMAIN}\r\nConnection: close\r\n\r\n`,
    );
    assert.match(noPath, /^HTTP\/1\.1 200 /);
    assert.deepEqual(seen, [
      { backend: "web", url: "/x?q=1", host: DOMAIN },
      { backend: "api", url: "/api", host: `${DOMAIN.toUpperCase()}:443` },
      { backend: "web", url: "/?q=2", host: DOMAIN },
    ]);
  });

  it("never reaches the admin API or tunnel endpoint from a tenant authority, nor a tenant from the main domain's", async (t) => {
    const { gateway, seen } = await twoServices(t);
    const auth = `Authorization: Bearer ${ADMIN_KEY}\r\n`;
    // A tenant's authority with the main domain's Host: the tenant's own /api/v1/admin and gRPC paths.
    const tenantAdmin = await rawRequest(
      gateway,
      `GET https://${DOMAIN}/api/v1/admin/domains HTTP/1.1\r\nHost: gateway.test\r\n${auth}Connection: close\r\n\r\n`,
    );
    assert.match(tenantAdmin, /^HTTP\/1\.1 200 /);
    assert.match(tenantAdmin, /\r\nx-backend: api\r\n/i);
    const tenantTunnel = await rawRequest(
      gateway,
      `POST https://${DOMAIN}/hopgate.protocol.v1.HopGateTunnel/Connect HTTP/1.1\r\nHost: gateway.test\r\n` +
        `Content-Type: application/grpc\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`,
    );
    assert.match(tenantTunnel, /^HTTP\/1\.1 200 /);
    assert.deepEqual(seen, [
      { backend: "api", url: "/api/v1/admin/domains", host: DOMAIN },
      { backend: "web", url: "/hopgate.protocol.v1.HopGateTunnel/Connect", host: DOMAIN },
    ]);
    // The main domain's authority with a tenant's Host: the admin API answers, no tenant sees it.
    const admin = await rawRequest(
      gateway,
      `GET https://gateway.test/api/v1/admin/domains HTTP/1.1\r\nHost: ${DOMAIN}\r\n${auth}Connection: close\r\n\r\n`,
    );
    assert.match(admin, /^HTTP\/1\.1 200 /);
    assert.match(admin, /application\/json/);
    assert.doesNotMatch(admin, /x-backend/i);
    const mainPage = await rawRequest(
      gateway,
      `GET https://gateway.test/api/x HTTP/1.1\r\nHost: ${DOMAIN}\r\nConnection: close\r\n\r\n`,
    );
    assert.match(mainPage, /^HTTP\/1\.1 404 /);
    const mainTunnel = await rawRequest(
      gateway,
      `POST https://gateway.test/hopgate.protocol.v1.HopGateTunnel/Connect HTTP/1.1\r\nHost: ${DOMAIN}\r\n` +
        `Content-Type: application/grpc\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`,
    );
    assert.match(mainTunnel, /^HTTP\/1\.1 404 /);
    await sleep(200);
    assert.equal(seen.length, 2, "no tenant saw a request for the main domain");
  });

  it("answers 400 to absolute-form targets with userinfo, another scheme or a bad authority", async (t) => {
    const { gateway, seen } = await twoServices(t);
    for (const target of [
      `https://user@${DOMAIN}/x`,
      `https://gateway.test@${DOMAIN}/x`,
      `ftp://${DOMAIN}/x`,
      `https:///x`,
      `https://${DOMAIN}/a%zz`,
      `https://${DOMAIN}/x#frag`,
      `https://${DOMAIN}:99999999/x`,
    ]) {
      const response = await rawRequest(
        gateway,
        `GET ${target} HTTP/1.1\r\nHost: ${DOMAIN}\r\nConnection: close\r\n\r\n`,
      );
      assert.match(response, /^HTTP\/1\.1 400 /, target);
    }
    await sleep(200);
    assert.deepEqual(seen, []);
  });
});
