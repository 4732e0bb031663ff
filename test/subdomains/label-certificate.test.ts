import assert from "node:assert/strict";
import https from "node:https";
import { join } from "node:path";
import { describe, it } from "node:test";
import { startServer } from "../../src/server/start-server.js";
import { acmeServerConfig } from "../helpers/acme-server-config.js";
import { startBackend } from "../helpers/backend.js";
import { freePort } from "../helpers/free-port.js";
import { startTestClient } from "../helpers/gateway.js";
import { lifoCleanup } from "../helpers/lifo-cleanup.js";
import { captureLogs } from "../helpers/log-capture.js";
import { preparePebble } from "../helpers/pebble.js";
import { until } from "../helpers/poll-until.js";
import { tempDir } from "../helpers/temp-dir.js";
import { tlsHandshake, type PeerCertificate } from "../helpers/tls-probe.js";

/** A GET over HTTPS to 127.0.0.1:`port` for `host`, trusting only `ca` (name checked). */
function get(port: number, host: string, ca: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = https.request(
      { host: "127.0.0.1", port, path: "/", servername: host, headers: { host }, ca, agent: false },
      (response) => {
        let body = "";
        response.setEncoding("utf8").on("data", (chunk: string) => (body += chunk));
        response.on("end", () => resolve({ status: response.statusCode ?? 0, body }));
      },
    );
    request.on("error", reject);
    request.end();
  });
}

describe("certificates of self-service labels (ACME against pebble)", () => {
  it("issues a certificate on demand for a held label, within the label order limit", async (t) => {
    const cleanup = lifoCleanup(t);
    const dir = await tempDir(t);
    const httpPort = await freePort();
    const pebble = await preparePebble(cleanup, { httpPort });
    const running = await pebble.start();
    const logs = captureLogs();
    const config = await acmeServerConfig(pebble, dir, httpPort, {
      debug: "true",
      subdomainCertOrdersPerHour: "1",
    });
    const server = await startServer(config, logs.logger);
    cleanup(() => server.stop());
    const { clientApiKey: key } = await server.domains.register("*.labels.example.test", "labels");
    const backend = await startBackend(t, (_req, res) => res.end("label over pebble"));
    // The tunnel's own certificate is not what this test is about.
    const gateway = { port: server.httpsPort, caFile: join(dir, "pebble-listener.pem") };
    const client = startTestClient(t, gateway, "demo.labels.example.test", key, [`web=${backend.url}`], {
      insecure: "true",
    });
    await client.connected;

    const root = await running.rootPem();
    let peer: PeerCertificate | undefined;
    await until(
      async () =>
        (peer = await tlsHandshake(server.httpsPort, {
          servername: "demo.labels.example.test",
          ca: root,
        }).catch(() => undefined)) !== undefined,
      "a certificate for the label chaining to pebble's root",
      60_000,
    );
    assert.equal(peer?.subjectAltName, "DNS:demo.labels.example.test");
    const response = await get(server.httpsPort, "demo.labels.example.test", root);
    assert.equal(response.status, 200);
    assert.equal(response.body, "label over pebble");

    // A second label within the same hour is over HOP_SUBDOMAIN_CERT_ORDERS_PER_HOUR=1: the CA
    // is not asked, and the label is served the fallback certificate meanwhile.
    const second = startTestClient(t, gateway, "two.labels.example.test", key, [`web=${backend.url}`], {
      insecure: "true",
    });
    await second.connected;
    await tlsHandshake(server.httpsPort, { servername: "two.labels.example.test", ca: root }).then(
      () => assert.fail("the second label must not get a certificate from the CA within the hour"),
      () => undefined,
    );
    await until(
      () =>
        logs.lines.some(
          (line) =>
            line.msg === "acme order" &&
            line.domain === "two.labels.example.test" &&
            line.result === "refused" &&
            /HOP_SUBDOMAIN_CERT_ORDERS_PER_HOUR/.test(String(line.reason)),
        ),
      "the refused order's log line",
    );
    // A name under the wildcard that nobody holds gets no order at all.
    await tlsHandshake(server.httpsPort, { servername: "free.labels.example.test", ca: root }).catch(
      () => undefined,
    );
    assert.equal(
      logs.lines.some((line) => line.msg === "acme order" && line.domain === "free.labels.example.test"),
      false,
    );
  });
});
