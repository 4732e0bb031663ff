import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  gatewayStores,
  issued,
  presented,
  startAcmeGateway,
  type AcmeGateway,
  type TestServer,
} from "../helpers/acme-gateway.js";
import { ACME_MAIN_DOMAIN } from "../helpers/acme-server-config.js";
import { freePort } from "../helpers/free-port.js";
import type { LogLine } from "../helpers/log-capture.js";
import type { RunningPebble } from "../helpers/pebble.js";
import { pollUntil, until } from "../helpers/poll-until.js";
import { cuttablePgDatabase, pgSkip } from "../helpers/postgres.js";

/**
 * From A storing a certificate to B presenting it. The unprompted pick-up runs every 60 s and
 * B's own renewal 14 s after A's; the old 5 s poll took 0-5 s, and over RENEWALS renewals 6-7 s
 * apart at least one lands past this bound. Wide for a busy machine: the signal takes tens of ms.
 */
const PICK_UP_BOUND_MS = 2_500;
const RENEWALS = 3;

/** The first issued renewal of `domain` in A's log after `from` lines. */
function renewalAfter(server: TestServer, domain: string, from: number): LogLine | undefined {
  return issued(server, domain).find(
    (line) => line.replaces !== undefined && server.logs.lines.indexOf(line) >= from,
  );
}

async function presentedSerial(server: TestServer, running: RunningPebble): Promise<string | undefined> {
  return (await presented(server, running, ACME_MAIN_DOMAIN))?.toUpperCase();
}

/**
 * Server A, answering pebble's HTTP-01 challenges and renewing at 80 % of the lifetime left;
 * resolves once it presents its first certificate.
 */
async function startRenewingA(gw: AcmeGateway): Promise<TestServer> {
  const aHttpPort = await freePort();
  gw.front.switchTo(aHttpPort);
  const a = await gw.start("A", { acmeRenewRemainingPercent: "80" }, aHttpPort);
  await until(
    async () => (await presentedSerial(a, gw.running)) !== undefined,
    "A presents its first certificate",
    60_000,
  );
  return a;
}

for (const backend of gatewayStores) {
  describe(
    `certificate pick-up on the store-change signal, ${backend.name}, pebble`,
    { skip: backend.skip },
    () => {
      it(`serves a certificate another server renewed within ${PICK_UP_BOUND_MS} ms, ${RENEWALS} times in a row, without ordering`, async (t) => {
        const store = await backend.create(t);
        // 30 s certificates: A renews at 80 % of the lifetime left (6 s in); B at the default
        // third (20 s in), so B can only switch earlier by picking up what A stored.
        const gw = await startAcmeGateway(t, store.shared, {
          ...store.options,
          certificateValiditySeconds: 30,
        });
        const a = await startRenewingA(gw);
        const b = await gw.start("B");
        await until(
          async () => (await presentedSerial(b, gw.running)) === (await presentedSerial(a, gw.running)),
          "B presents A's certificate",
          10_000,
        );

        const delaysMs: number[] = [];
        for (let renewal = 0; renewal < RENEWALS; renewal++) {
          const from = a.logs.lines.length;
          let line: LogLine | undefined;
          await until(
            () => (line = renewalAfter(a, ACME_MAIN_DOMAIN, from)) !== undefined,
            "A renews",
            30_000,
          );
          const storedAtMs = Date.parse(String(line!.ts));
          const serial = String(line!.serial).toUpperCase();
          const switchedAtMs = await pollUntil(
            async () => (await presentedSerial(b, gw.running)) === serial,
            20_000,
            () => `B never presented A's renewal ${serial}`,
          );
          delaysMs.push(switchedAtMs - storedAtMs);
        }
        t.diagnostic(`B presented A's renewals ${delaysMs.join(", ")} ms after A stored them`);
        for (const delayMs of delaysMs)
          assert.ok(delayMs < PICK_UP_BOUND_MS, `picked up after ${delaysMs.join(", ")} ms`);
        assert.equal(issued(b, ACME_MAIN_DOMAIN).length, 0, "B never ordered");
        assert.ok(
          b.logs.lines.some((l) => l.msg === "certificate picked up from the store"),
          "B picked the renewals up from the store",
        );
      });
    },
  );
}

describe(
  "certificate pick-up after the store-change listener reconnects (PostgreSQL, pebble)",
  { skip: pgSkip() },
  () => {
    it("serves a renewal stored while B was cut off from PostgreSQL once B's listener is back, before the next renewal or the 60 s look", async (t) => {
      const database = await cuttablePgDatabase(t);
      // 60 s certificates: A renews every 12 s; B (through the proxy) at 40 s in, never first.
      const gw = await startAcmeGateway(t, { dbDsn: database.dsn });
      const a = await startRenewingA(gw);
      const b = await gw.start("B", { dbDsn: database.cuttableDsn });
      const nextRenewal = async (from: number) => {
        let line: LogLine | undefined;
        await until(() => (line = renewalAfter(a, ACME_MAIN_DOMAIN, from)) !== undefined, "A renews", 30_000);
        return { serial: String(line!.serial).toUpperCase(), storedAtMs: Date.parse(String(line!.ts)) };
      };
      const steady = await nextRenewal(a.logs.lines.length);
      await until(
        async () => (await presentedSerial(b, gw.running)) === steady.serial,
        "B presents A's renewal",
      );

      // Cut a few seconds before A's next renewal, so that the listener's backoff stays short
      // (under 4 s) and B is back well before the renewal after it, which B would hear of
      // normally and serve instead.
      await new Promise((resolve) =>
        setTimeout(resolve, Math.max(0, steady.storedAtMs + 8_000 - Date.now())),
      );
      await database.cut();
      const storedMeanwhile = (await nextRenewal(a.logs.lines.length)).serial;
      const restoredAtMs = Date.now();
      await database.restore();
      const switchedAtMs = await pollUntil(
        async () => (await presentedSerial(b, gw.running)) === storedMeanwhile,
        10_000,
        () => `B never presented ${storedMeanwhile}, stored while it was cut off`,
        50,
      );
      t.diagnostic(
        `listener back: B presented the renewal stored meanwhile ${switchedAtMs - restoredAtMs} ms later`,
      );
      assert.equal(issued(b, ACME_MAIN_DOMAIN).length, 0, "B never ordered");
    });
  },
);
