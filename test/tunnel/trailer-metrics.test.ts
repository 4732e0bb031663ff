import assert from "node:assert/strict";
import { once } from "node:events";
import http2 from "node:http2";
import { describe, it } from "node:test";
import { frame } from "../../src/protocol/frames.js";
import { emptyFieldMap, headerValues, type HeaderMap } from "../../src/protocol/wire-headers.js";
import { startBackend } from "../helpers/backend.js";
import { startGateway, startTestClient, type Gateway } from "../helpers/gateway.js";
import { HostilePeer, responseHead } from "../helpers/hostile-peer.js";
import { sampleValue } from "../helpers/prometheus-text.js";
import { tlsFixture } from "../helpers/tls-fixture.js";
import { visit } from "../helpers/visit.js";
import { within } from "../helpers/within.js";

const DOMAIN = "trailer-metrics.example.test";

/** `hopgate_response_trailers_total` by outcome, read from the gateway's /metrics. */
async function outcomes(
  gateway: Gateway,
): Promise<Record<"sent" | "dropped" | "refused", number | undefined>> {
  const scrape = await (await fetch(`http://127.0.0.1:${gateway.server.metricsPort}/metrics`)).text();
  const of = (outcome: string) =>
    sampleValue(scrape, `hopgate_response_trailers_total{outcome="${outcome}"}`);
  return { sent: of("sent"), dropped: of("dropped"), refused: of("refused") };
}

describe("hopgate_response_trailers_total", () => {
  it("counts trailers sent to an HTTP/2 visitor and dropped for an HTTP/1.1 visitor without TE: trailers", async (t) => {
    const gateway = await startGateway(t);
    const backend = await startBackend(t, (req, res) => {
      req.resume();
      res.writeHead(200, { "content-type": "text/plain" });
      res.addTrailers({ "x-checksum": "abc123" });
      res.end("body");
    });
    const key = await gateway.register(DOMAIN);
    await within(startTestClient(t, gateway, DOMAIN, key, [`web=${backend.url}`]).connected, "the client");
    assert.deepEqual(
      await outcomes(gateway),
      { sent: 0, dropped: 0, refused: 0 },
      "every series exists at zero",
    );

    const h2 = await visit(gateway.port, DOMAIN, "/", { http2: true });
    assert.equal(h2.trailers["x-checksum"], "abc123");
    assert.deepEqual(await outcomes(gateway), { sent: 1, dropped: 0, refused: 0 });

    const h1 = await visit(gateway.port, DOMAIN, "/");
    assert.equal(h1.body.toString(), "body");
    assert.deepEqual(h1.trailers, {});
    assert.deepEqual(await outcomes(gateway), { sent: 1, dropped: 1, refused: 0 });
  });

  it("counts a hostile client's malformed section as refused", async (t) => {
    const gateway = await startGateway(t);
    const peer = new HostilePeer({
      port: gateway.port,
      ca: tlsFixture().cert,
      domain: DOMAIN,
      apiKey: await gateway.register(DOMAIN),
      version: 2,
    });
    t.after(() => peer.close());
    await within(peer.ready, "the TunnelAccept");
    const visitor = http2.connect(`https://127.0.0.1:${gateway.port}`, {
      ca: tlsFixture().cert,
      servername: DOMAIN,
    });
    t.after(() => visitor.destroy());
    await once(visitor, "connect");
    const stream = visitor.request({ ":path": "/", ":authority": DOMAIN, te: "trailers" });
    stream.on("error", () => undefined);
    stream.resume();
    const closed = new Promise((resolve) => stream.once("close", resolve));
    const request = await within(peer.nextRequest(), "the request on the tunnel");
    peer.send(responseHead(request.id, "200", { "content-type": ["text/plain"] }));
    peer.send(frame.data(request.id, 0n, Buffer.from("body")));
    const malformed: HeaderMap = emptyFieldMap();
    malformed["x-ok"] = headerValues(["1\r\nset-cookie: forged=1"]);
    peer.send(frame.trailers(request.id, malformed));
    peer.send(frame.close(request.id));
    await within(closed, "the visitor's stream to close");
    assert.notEqual(stream.rstCode, 0, "the stream is reset");
    assert.deepEqual(await outcomes(gateway), { sent: 0, dropped: 0, refused: 1 });
  });
});
