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
import { freePort } from "../helpers/free-port.js";
import { until } from "../helpers/poll-until.js";
import { tlsHandshake } from "../helpers/tls-probe.js";

const APP = "app.example.test";
/** B's order waits this long for A's lock (five tries at 200 ms) before A may finish. */
const WAIT_MS = 1_000;

/** Every "acme order" line of `domain` (issued, failed or refused) in a server's log. */
function orders(server: TestServer, domain: string) {
  return server.logs.lines.filter((l) => l.msg === "acme order" && l.domain === domain);
}

/** How B came to serve A's certificate, from its log. */
function pathOf(server: TestServer, domain: string): string {
  const picked = server.logs.lines.some(
    (l) => l.msg === "certificate picked up from the store" && l.domain === domain,
  );
  const taken = server.logs.lines.some(
    (l) => l.msg === "certificate taken from the store" && l.domain === domain,
  );
  if (picked && !taken) return "picked up while waiting for the lock, then kept under it";
  if (taken) return "taken from the store under the lock";
  return "neither (unexpected)";
}

for (const backend of gatewayStores) {
  describe(
    `an order waiting for another server's order lock, ${backend.name}, pebble`,
    { skip: backend.skip },
    () => {
      it("takes the certificate the lock holder stored instead of ordering again: one order at pebble", async (t) => {
        const store = await backend.create(t);
        const gw = await startAcmeGateway(t, store.shared, store.options);
        const aHttpPort = await freePort();
        gw.front.switchTo(aHttpPort);
        const [a, b] = await Promise.all([gw.start("A", {}, aHttpPort), gw.start("B")]);
        // The main domain's orders at start-up (their own race) are over before APP's begins.
        await until(
          async () =>
            (await presented(a, gw.running, ACME_MAIN_DOMAIN)) !== undefined &&
            (await presented(b, gw.running, ACME_MAIN_DOMAIN)) !== undefined,
          "A and B present the main domain's certificate",
          60_000,
        );
        const ordersBefore = gw.running.ordersAdded();

        // A orders APP (registered through A) and holds APP's lock while pebble's validation of
        // its challenge is held at the front.
        gw.front.hold();
        await a.handle.domains.register(APP, "order lock wait");
        await until(() => gw.front.held > 0, "pebble validates A's challenge", 30_000);

        // A handshake for APP at B starts B's own order, which waits for the lock A holds; the
        // handshake waits for that order (HopGate's on-demand wait).
        let settled = false;
        const handshake = tlsHandshake(b.handle.httpsPort, {
          servername: APP,
          ca: await gw.running.rootPem(),
        }).finally(() => (settled = true));
        handshake.catch(() => undefined);
        await new Promise((resolve) => setTimeout(resolve, WAIT_MS));
        assert.equal(settled, false, "B's handshake still waits: its order waits for A's lock");
        assert.equal(gw.front.held > 0, true, "A's order still waits for pebble's validation");

        gw.front.release();
        const fromB = await handshake;
        const fromA = await presented(a, gw.running, APP);
        assert.ok(fromA, "A presents APP's certificate");
        assert.equal(fromB.serialNumber, fromA, "B's waiting handshake got A's certificate");
        t.diagnostic(`B: ${pathOf(b, APP)}`);

        assert.equal(gw.running.ordersAdded() - ordersBefore, 1, "pebble received one order (A's)");
        assert.equal(issued(a, APP).length, 1, "A ordered APP once");
        assert.deepEqual(orders(b, APP), [], "B ordered nothing for APP");
      });
    },
  );
}
