import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  MAIN_DOMAIN,
  ordersFor,
  prepareAcmeEnvironment,
  startAcmeEnvironment,
  startServer,
  storeLocation,
  verifiedHandshake,
  waitFor,
} from "../helpers/acme-fixture.js";
import { lifoCleanup } from "../helpers/lifo-cleanup.js";
import { tlsHandshake } from "../helpers/tls-probe.js";

describe("ACME certificate manager when things go wrong, and over time", () => {
  it("reports a failed order with the CA's reason and a retry time, and retries with backoff", async (t) => {
    const cleanup = lifoCleanup(t);
    const environment = await startAcmeEnvironment(cleanup, { blockedDomains: ["blocked.example.test"] });
    const server = await startServer(cleanup, environment, await storeLocation(cleanup), {
      registered: ["blocked.example.test"],
      policy: { firstRetryDelayMs: 300, maxRetryDelayMs: 5_000 },
    });
    const beforeMs = Date.now();
    const status = await server.manager.ensure("blocked.example.test");
    assert.equal(status.state, "failed");
    if (status.state !== "failed") return;
    assert.match(status.reason, /blocked/i, "the CA's own words");
    assert.ok(status.nextRetryMs > beforeMs, "a retry is scheduled");

    const failures = await waitFor(
      () =>
        ordersFor(server, "blocked.example.test").length >= 3
          ? ordersFor(server, "blocked.example.test")
          : undefined,
      30_000,
      "two retries",
    );
    assert.ok(failures.every((order) => order.result === "failed" && /blocked/i.test(order.reason ?? "")));
    const later = server.manager.status("blocked.example.test");
    assert.ok(later?.state === "failed" && later.nextRetryMs - Date.now() > 0);
    await assert.rejects(verifiedHandshake(environment.running, server.tlsPort, "blocked.example.test"));
  });

  it("starts and serves the fallback while the CA is down, and issues once it is back", async (t) => {
    const cleanup = lifoCleanup(t);
    const environment = await prepareAcmeEnvironment(cleanup); // pebble not started yet
    const startedMs = Date.now();
    const server = await startServer(cleanup, environment, await storeLocation(cleanup), {
      registered: ["early.example.test"],
      onDemandWaitMs: 1_000,
    });
    assert.ok(
      Date.now() - startedMs < 20_000,
      "start-up did not wait for the CA (it retries for over a minute)",
    );
    assert.equal(server.manager.status(MAIN_DOMAIN)?.state, "pending");
    const fallbackPem = server.manager.defaultCertificate().certificatePem;
    const fallback = await tlsHandshake(server.tlsPort, { servername: MAIN_DOMAIN, ca: fallbackPem });
    const early = await tlsHandshake(server.tlsPort, {
      servername: "early.example.test",
      ca: fallbackPem,
      checkName: MAIN_DOMAIN,
    });
    assert.equal(
      early.serialNumber,
      fallback.serialNumber,
      "a registered name whose on-demand order cannot finish gets the fallback after onDemandWaitMs",
    );

    const running = await environment.pebble.start();
    await waitFor(() => server.manager.status(MAIN_DOMAIN)?.state === "issued", 120_000, "main domain");
    await waitFor(
      () => server.manager.status("early.example.test")?.state === "issued",
      60_000,
      "registered domain",
    );
    await verifiedHandshake(running, server.tlsPort, MAIN_DOMAIN);
    await verifiedHandshake(running, server.tlsPort, "early.example.test");
  });

  it("renews by timer while serving, without a restart", async (t) => {
    const cleanup = lifoCleanup(t);
    const environment = await startAcmeEnvironment(cleanup, { certificateValiditySeconds: 40 });
    const server = await startServer(cleanup, environment, await storeLocation(cleanup), {
      registered: ["renew.example.test"],
      // Renew when 80 % of the 40 s lifetime is left: about 8 s after issuance.
      policy: { renewAtRemainingFraction: 0.8 },
    });
    assert.equal((await server.manager.ensure("renew.example.test")).state, "issued");
    const first = await verifiedHandshake(environment.running, server.tlsPort, "renew.example.test");
    const renewed = await waitFor(
      async () => {
        const peer = await verifiedHandshake(environment.running, server.tlsPort, "renew.example.test");
        return peer.serialNumber !== first.serialNumber ? peer : undefined;
      },
      60_000,
      "a renewed certificate",
    );
    assert.ok(renewed.notAfterMs > first.notAfterMs);
    assert.ok(ordersFor(server, "renew.example.test").length >= 2);
    const stored = await server.store.loadCertificate("renew.example.test");
    assert.ok(stored, "the renewed certificate is stored");
  });
});
