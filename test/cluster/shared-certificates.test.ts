import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { connect, type TLSSocket } from "node:tls";
import { issued, presented, startAcmeGateway, type TestServer } from "../helpers/acme-gateway.js";
import { ACME_MAIN_DOMAIN } from "../helpers/acme-server-config.js";
import { freePort } from "../helpers/free-port.js";
import type { RunningPebble } from "../helpers/pebble.js";
import { until } from "../helpers/poll-until.js";
import { createTestPgDatabase, pgSkip } from "../helpers/postgres.js";
import { tempDir } from "../helpers/temp-dir.js";

const APP = "app.example.test";

/**
 * Across `servers`, `domain` got one first order, and no certificate of it was renewed twice
 * (each renewal names the serial it replaces).
 */
function assertOrderedOnce(servers: TestServer[], domain: string): void {
  const orders = servers.flatMap((s) => issued(s, domain));
  assert.equal(orders.filter((l) => l.replaces === undefined).length, 1, `one first order of ${domain}`);
  const replaced = orders.flatMap((l) => (l.replaces === undefined ? [] : [l.replaces]));
  assert.equal(
    new Set(replaced).size,
    replaced.length,
    `no certificate renewed twice: ${JSON.stringify(replaced)}`,
  );
}

/** A TLS connection (HTTP/1.1, no ALPN) to `server` for `domain`, verified against pebble's root. */
async function openTls(server: TestServer, running: RunningPebble, domain: string): Promise<TLSSocket> {
  const ca = await running.rootPem();
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port: server.handle.httpsPort, servername: domain, ca });
    socket.once("secureConnect", () => resolve(socket));
    socket.once("error", reject);
  });
}

/** One HTTP/1.1 request on an open connection; resolves with the start of the answer. */
function exchange(socket: TLSSocket, host: string): Promise<string> {
  return new Promise((resolve, reject) => {
    socket.once("data", (chunk: Buffer) => resolve(chunk.toString("latin1")));
    socket.once("error", reject);
    socket.write(`GET / HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
  });
}

describe("certificates shared by the servers of one gateway (PostgreSQL, pebble)", { skip: pgSkip() }, () => {
  it("orders once per domain, answers the CA from a server that did not order, every server presents the certificate, and a renewal is ordered once and picked up by every server", async (t) => {
    const database = await createTestPgDatabase(t);
    // A and B renew at 80 % of the lifetime left (12 s into pebble's 60 s); C at the default third
    // (40 s in), so C can only switch earlier by picking up what A or B stored.
    const gw = await startAcmeGateway(t, { dbDsn: database.dsn });
    const cHttpPort = await freePort();
    gw.front.switchTo(cHttpPort);
    // Started together: all three want the main domain's certificate at once.
    const [a, b, c] = await Promise.all([
      gw.start("A", { acmeRenewRemainingPercent: "80" }),
      gw.start("B", { acmeRenewRemainingPercent: "80" }),
      gw.start("C", {}, cHttpPort),
    ]);
    const servers = [a, b, c];

    // Registered through A: only A hears of it at once (B and C refresh their list every 30 s),
    // so A orders, and pebble's validation reaches C, which must answer from the store.
    await a.handle.domains.register(APP, "shared certificate");
    let first: string | undefined;
    await until(
      async () => (first = await presented(a, gw.running, APP)) !== undefined,
      "A presents the certificate",
      60_000,
    );
    assert.ok(
      c.logs.lines.some((l) => l.msg === "challenge answered from the store"),
      "C answered the challenge of A's order from the store",
    );
    for (const server of [b, c]) {
      assert.equal(
        await presented(server, gw.running, APP),
        first,
        `${server.name} presents A's certificate`,
      );
    }
    assert.deepEqual(
      servers.map((s) => issued(s, APP).length),
      [1, 0, 0],
      "one order across the three servers, by A",
    );
    assertOrderedOnce(servers, ACME_MAIN_DOMAIN);

    // A connection opened before the renewal keeps its certificate and keeps working after C switches.
    const open = await openTls(c, gw.running, APP);
    t.after(() => open.destroy());
    assert.equal(open.getPeerCertificate().serialNumber.toUpperCase(), first);

    // Renewal: A and B find it due at the same moment; one orders, the other takes its result.
    await until(
      async () => {
        const [fromA, fromB] = [await presented(a, gw.running, APP), await presented(b, gw.running, APP)];
        return fromA !== undefined && fromA !== first && fromA === fromB;
      },
      "A and B present a renewed certificate",
      60_000,
    );
    const renewedAtMs = Date.now();
    let fromC: string | undefined;
    await until(
      async () => (fromC = await presented(c, gw.running, APP)) !== undefined && fromC !== first,
      "C presents a renewed certificate without ordering",
      20_000,
    );
    t.diagnostic(
      `C switched ${Date.now() - renewedAtMs} ms after A and B (picked up on the store-change signal)`,
    );
    assert.equal(issued(c, APP).length, 0, "C never ordered");
    assert.match(
      await exchange(open, APP),
      /^HTTP\/1\.1 \d{3} /,
      "the connection opened before still answers",
    );
    assert.equal(open.getPeerCertificate().serialNumber.toUpperCase(), first);
    assert.ok(
      [...issued(a, APP), ...issued(b, APP)].some((l) => l.replaces !== undefined),
      "a renewal was ordered",
    );
    assertOrderedOnce(servers, APP);
    assertOrderedOnce(servers, ACME_MAIN_DOMAIN);
    const picked = c.logs.lines.find(
      (l) => l.msg === "certificate picked up from the store" && l.domain === APP,
    );
    assert.ok(picked, "C picked the renewal up from the store");
  });
});

describe("certificates shared by two servers on one SQLite store file (pebble)", () => {
  it("orders the main domain once, and a server that did not order answers the CA's challenge from the store", async (t) => {
    const gw = await startAcmeGateway(t, {}, { dataDir: await tempDir(t) });
    const bHttpPort = await freePort();
    gw.front.switchTo(bHttpPort);
    const [a, b] = await Promise.all([gw.start("A"), gw.start("B", {}, bHttpPort)]);
    await a.handle.domains.register(APP, "shared certificate");
    let first: string | undefined;
    await until(
      async () => (first = await presented(a, gw.running, APP)) !== undefined,
      "A presents the certificate",
      60_000,
    );
    assert.ok(b.logs.lines.some((l) => l.msg === "challenge answered from the store"));
    assert.equal(await presented(b, gw.running, APP), first, "B presents A's certificate");
    assert.deepEqual([issued(a, APP).length, issued(b, APP).length], [1, 0]);
    await until(
      async () => (await presented(a, gw.running, ACME_MAIN_DOMAIN)) !== undefined,
      "A presents the main domain's certificate",
      60_000,
    );
    assertOrderedOnce([a, b], ACME_MAIN_DOMAIN);
  });
});
