import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createAddressCheck } from "../../src/server/certs/acme/address-check.js";
import {
  MAIN_DOMAIN,
  ordersFor,
  startAcmeEnvironment,
  startServer,
  storeLocation,
  testDnsLookup,
  verifiedHandshake,
  waitFor,
} from "../helpers/acme-fixture.js";
import { lifoCleanup } from "../helpers/lifo-cleanup.js";
import { tlsHandshake } from "../helpers/tls-probe.js";

const ISSUE_TIMEOUT_MS = 60_000;

describe("ACME certificate manager against pebble", () => {
  it("issues in the background for the main domain and for a domain when it is registered", async (t) => {
    const cleanup = lifoCleanup(t);
    const environment = await startAcmeEnvironment(cleanup);
    const server = await startServer(cleanup, environment, await storeLocation(cleanup));
    await waitFor(
      () => server.manager.status(MAIN_DOMAIN)?.state === "issued",
      ISSUE_TIMEOUT_MS,
      "main domain",
    );

    server.registered.add("app.example.test");
    const status = await server.manager.ensure("app.example.test");
    assert.equal(status.state, "issued");
    const peer = await verifiedHandshake(environment.running, server.tlsPort, "app.example.test");
    assert.equal(peer.subjectAltName, "DNS:app.example.test");
    assert.equal(status.state === "issued" && status.notAfterMs, peer.notAfterMs);
    assert.deepEqual(
      ordersFor(server, "app.example.test").map((order) => order.result),
      ["issued"],
    );
    assert.ok(
      (await server.store.loadCertificate("app.example.test"))?.certificatePem.includes("BEGIN CERTIFICATE"),
    );
    assert.deepEqual(
      server.manager
        .expiries()
        .map((expiry) => expiry.domain)
        .sort(),
      ["app.example.test", MAIN_DOMAIN],
    );
  });

  it("issues on demand at the first handshake for a registered domain; ten concurrent handshakes share one order", async (t) => {
    const cleanup = lifoCleanup(t);
    const environment = await startAcmeEnvironment(cleanup);
    const server = await startServer(cleanup, environment, await storeLocation(cleanup));
    server.registered.add("first.example.test");
    const peer = await verifiedHandshake(environment.running, server.tlsPort, "first.example.test");
    assert.equal(peer.subjectAltName, "DNS:first.example.test");
    assert.equal(ordersFor(server, "first.example.test").length, 1);

    server.registered.add("crowd.example.test");
    const peers = await Promise.all(
      Array.from({ length: 10 }, () =>
        verifiedHandshake(environment.running, server.tlsPort, "crowd.example.test"),
      ),
    );
    assert.equal(new Set(peers.map((p) => p.serialNumber)).size, 1, "every client got the same certificate");
    assert.deepEqual(
      ordersFor(server, "crowd.example.test").map((order) => order.result),
      ["issued"],
      "one order for ten handshakes",
    );
  });

  it("never orders for an unregistered name: it gets the main domain's certificate", async (t) => {
    const cleanup = lifoCleanup(t);
    const environment = await startAcmeEnvironment(cleanup);
    const server = await startServer(cleanup, environment, await storeLocation(cleanup));
    await waitFor(
      () => server.manager.status(MAIN_DOMAIN)?.state === "issued",
      ISSUE_TIMEOUT_MS,
      "main domain",
    );
    const root = await environment.running.rootPem();
    const peer = await tlsHandshake(server.tlsPort, {
      servername: "stranger.example.test",
      ca: root,
      checkName: MAIN_DOMAIN,
    });
    assert.equal(peer.subjectAltName, `DNS:${MAIN_DOMAIN}`);
    const noSni = await tlsHandshake(server.tlsPort, { servername: null, ca: root, checkName: MAIN_DOMAIN });
    assert.equal(noSni.serialNumber, peer.serialNumber, "clients without SNI get it too");
    await assert.rejects(
      verifiedHandshake(environment.running, server.tlsPort, "stranger.example.test"),
      /altnames/,
    );
    assert.equal(server.manager.status("stranger.example.test"), undefined);
    assert.deepEqual(ordersFor(server, "stranger.example.test"), []);
    assert.deepEqual(
      server.orders.map((order) => order.domain),
      [MAIN_DOMAIN],
    );
  });

  it("deletes the certificate when the domain is unregistered", async (t) => {
    const cleanup = lifoCleanup(t);
    const environment = await startAcmeEnvironment(cleanup);
    const server = await startServer(cleanup, environment, await storeLocation(cleanup), {
      registered: ["gone.example.test"],
    });
    assert.equal((await server.manager.ensure("gone.example.test")).state, "issued");
    await verifiedHandshake(environment.running, server.tlsPort, "gone.example.test");
    await waitFor(
      () => server.manager.status(MAIN_DOMAIN)?.state === "issued",
      ISSUE_TIMEOUT_MS,
      "main domain",
    );

    server.registered.delete("gone.example.test");
    await server.manager.remove("gone.example.test");
    assert.equal(await server.store.loadCertificate("gone.example.test"), undefined);
    assert.equal(server.manager.status("gone.example.test"), undefined);
    assert.ok(!server.manager.expiries().some((expiry) => expiry.domain === "gone.example.test"));
    await assert.rejects(
      verifiedHandshake(environment.running, server.tlsPort, "gone.example.test"),
      /altnames/,
      "the main domain's certificate is served instead",
    );
    assert.equal(ordersFor(server, "gone.example.test").length, 1, "no new order after unregistering");
  });

  it("refuses to order when HOP_ACME_EXPECT_IPS misses every address of the domain", async (t) => {
    const cleanup = lifoCleanup(t);
    const environment = await startAcmeEnvironment(cleanup);
    const lookup = testDnsLookup(environment.pebble.dns.port); // every name is 127.0.0.1 there
    const refusing = await startServer(cleanup, environment, await storeLocation(cleanup), {
      addressCheck: createAddressCheck({ expectedIps: ["192.0.2.10", "2001:db8::10"], lookup }),
    });
    refusing.registered.add("elsewhere.example.test");
    const status = await refusing.manager.ensure("elsewhere.example.test");
    assert.equal(status.state, "failed");
    assert.match(
      status.state === "failed" ? status.reason : "",
      /resolves to 127\.0\.0\.1, none of HOP_ACME_EXPECT_IPS/,
    );
    assert.deepEqual(
      ordersFor(refusing, "elsewhere.example.test").map((order) => order.result),
      ["refused"],
    );
    assert.equal(await refusing.store.loadCertificate("elsewhere.example.test"), undefined);

    const accepting = await startServer(cleanup, environment, await storeLocation(cleanup), {
      addressCheck: createAddressCheck({ expectedIps: ["192.0.2.10", "127.0.0.1"], lookup }),
    });
    accepting.registered.add("here.example.test");
    assert.equal((await accepting.manager.ensure("here.example.test")).state, "issued");
  });
});
