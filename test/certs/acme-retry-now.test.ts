import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  gatewayStores,
  issued,
  presented,
  startAcmeGateway,
  type TestServer,
} from "../helpers/acme-gateway.js";
import { ACME_MAIN_DOMAIN } from "../helpers/acme-server-config.js";
import type { LogLine } from "../helpers/log-capture.js";
import { sendRequest } from "../helpers/http-request.js";
import { until } from "../helpers/poll-until.js";

const ADMIN_KEY = "acme-retry-admin-key-0123456789";
const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly json: Record<string, unknown> & {
    error?: { code: string; message: string };
    certificate?: { state: string };
    next_retry_at?: string;
  };
}

/** `POST /domains/{domain}/certificate/retry`; the server's own certificate is not tested here. */
async function retry(server: TestServer, domain: string): Promise<Answer> {
  const answer = await sendRequest(
    `https://127.0.0.1:${server.handle.httpsPort}/api/v1/admin/domains/${encodeURIComponent(domain)}/certificate/retry`,
    {
      method: "POST",
      servername: ACME_MAIN_DOMAIN,
      anyCertificate: true,
      headers: {
        host: ACME_MAIN_DOMAIN,
        authorization: `Bearer ${ADMIN_KEY}`,
        "content-type": "application/json",
      },
      body: "{}",
    },
  );
  return { status: answer.status, headers: answer.headers, json: answer.json<Answer["json"]>() };
}

const failedOrders = (server: TestServer): LogLine[] =>
  server.logs.lines.filter(
    (l) => l.msg === "acme order" && l.domain === ACME_MAIN_DOMAIN && l.result === "failed",
  );

describe("POST /domains/{domain}/certificate/retry (pebble)", () => {
  it("orders a failed certificate at once after the fix, long before its scheduled retry; then 409, and 404 for an unknown name", async (t) => {
    // The front points nowhere: pebble's validation is refused. The next retry is 10 min away.
    const gateway = await startAcmeGateway(
      t,
      { adminApiKey: ADMIN_KEY },
      { certificateValiditySeconds: 3_600 },
    );
    const server = await gateway.start("A", {}, undefined, {
      acmeRetry: { firstRetryDelayMs: 10 * MINUTE_MS, maxRetryDelayMs: HOUR_MS },
    });
    await until(() => failedOrders(server).length === 1, "the failed order", 60_000);
    const scheduledMs = Date.parse(String(failedOrders(server)[0]?.next_retry));
    assert.ok(scheduledMs > Date.now() + 5 * MINUTE_MS, "the scheduled retry is minutes away");

    gateway.front.switchTo(server.httpPort);
    const accepted = await retry(server, ACME_MAIN_DOMAIN);
    assert.equal(accepted.status, 202, JSON.stringify(accepted.json));
    assert.equal(accepted.json.certificate?.state, "failed", "the state when the retry starts");

    await until(
      () => issued(server, ACME_MAIN_DOMAIN).length === 1,
      "the certificate after the retry",
      90_000,
    );
    const [done] = issued(server, ACME_MAIN_DOMAIN);
    assert.ok(Date.parse(String(done?.ts)) < scheduledMs, "issued before the scheduled retry");
    assert.equal(await presented(server, gateway.running, ACME_MAIN_DOMAIN), done?.serial);
    assert.equal(failedOrders(server).length, 1, "no other failed order");

    const nothing = await retry(server, ACME_MAIN_DOMAIN);
    assert.equal(nothing.status, 409, JSON.stringify(nothing.json));
    assert.match(nothing.json.error?.message ?? "", /nothing to retry/);
    const unknown = await retry(server, "nobody.example.test");
    assert.equal(unknown.status, 404, JSON.stringify(unknown.json));
    assert.match(unknown.json.error?.message ?? "", /nobody\.example\.test is not registered/);
  });

  it("answers 429 with the time the CA's hourly limit allows, and no order reaches pebble", async (t) => {
    const gateway = await startAcmeGateway(t, { adminApiKey: ADMIN_KEY });
    // Five failures within seconds, then the hourly limit holds the sixth back.
    const server = await gateway.start("A", {}, undefined, {
      acmeRetry: { firstRetryDelayMs: 100, maxRetryDelayMs: 1_000 },
    });
    await until(() => failedOrders(server).length === 5, "five failed orders", 90_000);
    const firstFailedMs = Date.parse(String(failedOrders(server)[0]?.ts));
    // Several times the longest backoff: the limit, not the backoff, holds the next order.
    await sleep(3_000);
    assert.equal(gateway.running.ordersAdded(), 5, "orders that reached the CA");

    gateway.front.switchTo(server.httpPort);
    const limited = await retry(server, ACME_MAIN_DOMAIN);
    assert.equal(limited.status, 429, JSON.stringify(limited.json));
    assert.equal(limited.json.error?.code, "rate_limited");
    assert.match(limited.json.error?.message ?? "", /hour/);
    const nextRetryMs = Date.parse(String(limited.json.next_retry_at));
    // The first failure's log line is written after pebble answered: within a few seconds of it.
    assert.ok(
      Math.abs(nextRetryMs - (firstFailedMs + HOUR_MS)) < 10_000,
      `next_retry_at ${limited.json.next_retry_at}`,
    );
    const retryAfterS = Number(limited.headers["retry-after"]);
    assert.ok(retryAfterS > 50 * 60 && retryAfterS <= 3_600, `Retry-After ${retryAfterS}`);

    await sleep(3_000);
    assert.equal(gateway.running.ordersAdded(), 5, "no order after the refused retry");
    assert.equal(issued(server, ACME_MAIN_DOMAIN).length, 0);
  });
});

for (const store of gatewayStores) {
  describe(
    `certificate retry in a gateway of two servers on ${store.name} (pebble)`,
    { skip: store.skip },
    () => {
      it("orders once for the gateway when both servers are asked to retry at the same time", async (t) => {
        const { shared, options } = await store.create(t);
        const gateway = await startAcmeGateway(t, { ...shared, adminApiKey: ADMIN_KEY }, options);
        const acmeRetry = { firstRetryDelayMs: 10 * MINUTE_MS, maxRetryDelayMs: HOUR_MS };
        const a = await gateway.start("A", {}, undefined, { acmeRetry });
        await until(() => failedOrders(a).length === 1, "A's failed order", 60_000);
        // B finds A's failure in the store and waits for its retry time.
        const b = await gateway.start("B", {}, undefined, { acmeRetry });
        await until(
          () =>
            b.logs.lines.some((l) => l.msg === "acme order deferred: failed orders recorded in the store"),
          "B deferring to the recorded failure",
          60_000,
        );
        assert.equal(gateway.running.ordersAdded(), 1);

        // Challenge answers are shared through the store: either server may answer pebble.
        gateway.front.switchTo(a.httpPort);
        const answers = await Promise.all([retry(a, ACME_MAIN_DOMAIN), retry(b, ACME_MAIN_DOMAIN)]);
        for (const answer of answers) assert.equal(answer.status, 202, JSON.stringify(answer.json));

        const servers = [a, b];
        const all = () => servers.flatMap((server) => issued(server, ACME_MAIN_DOMAIN));
        await until(() => all().length === 1, "the certificate", 90_000);
        const serial = all()[0]?.serial;
        await until(
          async () =>
            (await presented(a, gateway.running, ACME_MAIN_DOMAIN)) === serial &&
            (await presented(b, gateway.running, ACME_MAIN_DOMAIN)) === serial,
          "both servers presenting it",
          60_000,
        );
        assert.equal(all().length, 1, "one certificate issued for the gateway");
        assert.equal(gateway.running.ordersAdded(), 2, "the failed order and the retry reached the CA");
      });
    },
  );
}
