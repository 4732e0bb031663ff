import assert from "node:assert/strict";
import https from "node:https";
import { describe, it } from "node:test";
import { startServer } from "../../src/server/start-server.js";
import { acmeServerConfig } from "../helpers/acme-server-config.js";
import { freePort } from "../helpers/free-port.js";
import { testLogger } from "../helpers/gateway.js";
import { lifoCleanup } from "../helpers/lifo-cleanup.js";
import { preparePebble } from "../helpers/pebble.js";
import { tempDir } from "../helpers/temp-dir.js";
import { tlsHandshake } from "../helpers/tls-probe.js";

const ADMIN_KEY = "acme-admin-key-0123456789";

/** An admin API call on the main domain; the server's certificate is not what is tested here. */
function admin(
  port: number,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; json: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const request = https.request(
      {
        host: "127.0.0.1",
        port,
        method,
        path: `/api/v1/admin${path}`,
        servername: "gateway.example.test",
        rejectUnauthorized: false,
        headers: {
          host: "gateway.example.test",
          authorization: `Bearer ${ADMIN_KEY}`,
          "content-type": "application/json",
        },
      },
      (response) => {
        let text = "";
        response.setEncoding("utf8").on("data", (chunk: string) => (text += chunk));
        response.on("end", () =>
          resolve({ status: response.statusCode ?? 0, json: JSON.parse(text) as Record<string, unknown> }),
        );
      },
    );
    request.on("error", reject);
    request.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

describe("hopgate server with ACME (against pebble)", () => {
  it("issues a certificate for a domain registered through the admin API, without a restart, and shows it in the admin API", async (t) => {
    const cleanup = lifoCleanup(t);
    const dir = await tempDir(t);
    const httpPort = await freePort();
    const pebble = await preparePebble(cleanup, { httpPort });
    const running = await pebble.start();
    const config = await acmeServerConfig(pebble, dir, httpPort, { adminApiKey: ADMIN_KEY });
    const startedAt = Date.now();
    const server = await startServer(config, testLogger());
    cleanup(() => server.stop());
    t.diagnostic(`server started in ${Date.now() - startedAt} ms (ACME orders run in the background)`);

    const registered = await admin(server.httpsPort, "POST", "/domains/register", {
      domain: "app.example.test",
      memo: "acme",
    });
    assert.equal(registered.status, 200, JSON.stringify(registered.json));

    const root = await running.rootPem();
    const deadline = Date.now() + 60_000;
    let peer: Awaited<ReturnType<typeof tlsHandshake>> | undefined;
    while (!peer) {
      peer = await tlsHandshake(server.httpsPort, { servername: "app.example.test", ca: root }).catch(
        () => undefined,
      );
      if (!peer) {
        assert.ok(Date.now() < deadline, "no certificate chaining to pebble's root within 60 s");
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
    assert.equal(peer.subjectAltName, "DNS:app.example.test");

    const status = await admin(server.httpsPort, "GET", "/domains/status?domain=app.example.test");
    const certificate = status.json.certificate as { state: string; not_after: string };
    assert.equal(certificate.state, "issued");
    assert.equal(Date.parse(certificate.not_after), peer.notAfterMs);

    const main = await tlsHandshake(server.httpsPort, { servername: "gateway.example.test", ca: root }).catch(
      () => undefined,
    );
    assert.ok(main === undefined || main.subjectAltName === "DNS:gateway.example.test");
  });
});
