import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { echoed, echoHandler, startBackend, type Echo } from "../helpers/backend.js";
import { startGateway, startTestClient } from "../helpers/gateway.js";
import { visit } from "../helpers/visit.js";

describe("tunnel end to end", () => {
  it("carries a GET from a visitor through server and client to a local service and back", async (t) => {
    const gateway = await startGateway(t);
    const backend = await startBackend(t, echoHandler);
    const key = await gateway.register("app.example.test");
    const client = startTestClient(t, gateway, "app.example.test", key, [`web=${backend.url}`]);
    await client.connected;
    for (const http2 of [false, true]) {
      const response = await visit(gateway.port, "app.example.test", "/hello?x=1&y=2", {
        http2,
        headers: { "x-custom": "a", "X-HopGate-Status": "201", "x-forwarded-for": "6.6.6.6" },
      });
      assert.equal(response.status, 200, response.body.toString());
      const echo = JSON.parse(response.body.toString()) as Echo;
      assert.equal(echo.method, "GET");
      assert.equal(echo.url, "/hello?x=1&y=2");
      assert.deepEqual(echoed(echo, "host"), ["app.example.test"]);
      assert.deepEqual(echoed(echo, "x-custom"), ["a"]);
      assert.deepEqual(echoed(echo, "x-forwarded-for"), ["127.0.0.1"]);
      assert.deepEqual(echoed(echo, "x-hopgate-status"), []);
    }
  });
});
