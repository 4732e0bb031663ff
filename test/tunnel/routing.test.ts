import assert from "node:assert/strict";
import { describe, it, type TestContext } from "node:test";
import { startBackend, type Echo } from "../helpers/backend.js";
import { startGateway, startTestClient } from "../helpers/gateway.js";
import { visit } from "../helpers/visit.js";

/** A backend that says who it is and what it saw. */
async function namedBackend(t: TestContext, name: string) {
  return startBackend(t, (req, res) => {
    res.writeHead(200, { "content-type": "application/json", "x-backend": name });
    res.end(
      JSON.stringify({
        method: req.method ?? "",
        url: req.url ?? "",
        rawHeaders: req.rawHeaders,
        bodyLength: 0,
        body: "",
      } satisfies Echo),
    );
  });
}

describe("routing by host and longest path prefix", () => {
  it("routes every case of the table to the right place", async (t) => {
    const gateway = await startGateway(t);
    const [web, api, apiV2] = await Promise.all([
      namedBackend(t, "web"),
      namedBackend(t, "api"),
      namedBackend(t, "api-v2"),
    ]);
    const key = await gateway.register("app.example.test");
    await gateway.register("idle.example.test");
    await startTestClient(t, gateway, "app.example.test", key, [
      `web=${web.url}`,
      `api:/api=${api.url}`,
      `apiv2:/api/v2=${apiV2.url}`,
    ]).connected;

    const table: Array<{ host: string; path: string; status: number; backend?: string; url?: string }> = [
      { host: "app.example.test", path: "/", status: 200, backend: "web" },
      { host: "APP.Example.TEST", path: "/x", status: 200, backend: "web" },
      { host: "app.example.test:443", path: "/x", status: 200, backend: "web" },
      { host: "app.example.test.", path: "/x", status: 200, backend: "web" },
      { host: "app.example.test", path: "/api", status: 200, backend: "api" },
      {
        host: "app.example.test",
        path: "/api/items?q=1",
        status: 200,
        backend: "api",
        url: "/api/items?q=1",
      },
      { host: "app.example.test", path: "/api?q=1", status: 200, backend: "api" },
      { host: "app.example.test", path: "/apix", status: 200, backend: "web" },
      { host: "app.example.test", path: "/api/v2/things", status: 200, backend: "api-v2" },
      { host: "app.example.test", path: "/api/v20", status: 200, backend: "api" },
      // Admin paths, /metrics and gRPC-looking paths of a tenant belong to the tenant.
      {
        host: "app.example.test",
        path: "/api/v1/admin/domains",
        status: 200,
        backend: "api",
        url: "/api/v1/admin/domains",
      },
      { host: "app.example.test", path: "/metrics", status: 200, backend: "web" },
      { host: "unknown.example.test", path: "/", status: 404 },
      { host: "idle.example.test", path: "/", status: 502 },
    ];
    for (const http2 of [false, true]) {
      for (const row of table) {
        if (http2 && row.host.endsWith(".")) continue; // an HTTP/2 :authority with a trailing dot is covered on HTTP/1.1
        const response = await visit(gateway.port, row.host, row.path, {
          http2,
          headers: { accept: "application/json" },
        });
        const label = `${row.host}${row.path} over ${http2 ? "HTTP/2" : "HTTP/1.1"}`;
        assert.equal(response.status, row.status, label);
        if (row.backend) assert.equal(response.headers["x-backend"], row.backend, label);
        if (row.url) assert.equal((JSON.parse(response.body.toString()) as Echo).url, row.url, label);
        if (row.status >= 400) {
          const error = JSON.parse(response.body.toString()) as {
            error: { status: number; message: string };
          };
          assert.equal(error.error.status, row.status, label);
        }
      }
    }
  });

  it("answers unknown hosts and domains without a client with an HTML page by default", async (t) => {
    const gateway = await startGateway(t);
    await gateway.register("idle.example.test");
    const unknown = await visit(gateway.port, "nobody.example.test", "/");
    assert.equal(unknown.status, 404);
    assert.match(String(unknown.headers["content-type"]), /text\/html/);
    assert.match(unknown.body.toString(), /404 Not Found/);
    const idle = await visit(gateway.port, "idle.example.test", "/", {
      headers: { accept: "text/html,application/json" },
    });
    assert.equal(idle.status, 502);
    assert.match(idle.body.toString(), /no client is connected/);
    assert.doesNotMatch(idle.body.toString(), /Error|at \w+ \(|ECONN/, "no internal error text");
  });

  it("keeps the main domain's admin API and tunnel endpoint off tenant domains, and tenants off the main domain", async (t) => {
    const gateway = await startGateway(t, { debug: "false", adminApiKey: "admin-key-0123456789abcdef" });
    const onMain = await visit(gateway.port, "gateway.test", "/api/v1/admin/domains", {
      headers: { authorization: "Bearer admin-key-0123456789abcdef" },
    });
    assert.equal(onMain.status, 200, onMain.body.toString());
    const notATenant = await visit(gateway.port, "gateway.test", "/some/page");
    assert.equal(notATenant.status, 404);
  });
});
