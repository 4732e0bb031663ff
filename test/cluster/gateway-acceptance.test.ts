import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { request } from "node:https";
import { join } from "node:path";
import { describe, it } from "node:test";
import type { TLSSocket } from "node:tls";
import { ACME_MAIN_DOMAIN } from "../helpers/acme-server-config.js";
import { startBackend } from "../helpers/backend.js";
import { freePort } from "../helpers/free-port.js";
import { spawnHopgate, type HopgateProcess } from "../helpers/hopgate-process.js";
import { preparePebble, type PebbleSetup } from "../helpers/pebble.js";
import { pollUntil } from "../helpers/poll-until.js";
import { cuttablePgDatabase, pgSkip } from "../helpers/postgres.js";
import { startTcpFront } from "../helpers/tcp-front.js";
import { tempDir } from "../helpers/temp-dir.js";
import { within } from "../helpers/within.js";

// Issue 17 item 5 as one scenario (docs/scale-out.md): three `hopgate server` processes on one
// PostgreSQL database with certificates from pebble, a multi-tunnel v2 client given one server's
// address, a --single-server client (so that the other servers relay), kill -9 of a server, a
// server added later, and a PostgreSQL outage.

/** Served by the v2 client, which holds a tunnel to every server. */
const APP = "app.example.test";
/** Served by the --single-server client, attached to B only: A, C and D relay to B. */
const RELAYED = "relayed.example.test";
const DOMAINS = [APP, RELAYED] as const;
const BODY: Record<string, string> = { [APP]: "app backend", [RELAYED]: "relayed backend" };
/** The servers' advertise hosts end so; the clients resolve them to 127.0.0.1 (DNS_SHIM). */
const SERVERS_SUFFIX = ".servers.example.test";
/**
 * Loaded into the client processes (--import): resolves every name under SERVERS_SUFFIX to
 * 127.0.0.1, as the gateway's DNS would, since an ACME certificate needs a DNS name with a dot
 * (pebble resolves every name to 127.0.0.1 with its own responder too).
 */
const DNS_SHIM = `import dns from "node:dns";
const lookup = dns.lookup;
dns.lookup = function (hostname, options, callback) {
  if (typeof hostname === "string" && hostname.toLowerCase().endsWith(${JSON.stringify(SERVERS_SUFFIX)})) {
    if (typeof options === "function") [callback, options] = [options, {}];
    const all = typeof options === "object" && options !== null && options.all;
    return process.nextTick(() => (all ? callback(null, [{ address: "127.0.0.1", family: 4 }]) : callback(null, "127.0.0.1", 4)));
  }
  return lookup.call(this, hostname, options, callback);
};
`;
const ADMIN_API_KEY = "acceptance-test-admin-key-0123456789";

interface GatewayServer {
  readonly name: string;
  readonly process: HopgateProcess;
  readonly httpsPort: number;
  /** Its plain HTTP listener (HTTP-01 challenges). */
  readonly httpPort: number;
  /** <name>.servers.example.test:<httpsPort>: clients dial it and verify pebble's certificate for the name. */
  readonly advertise: string;
}

interface Answer {
  readonly status: number;
  readonly text: string;
  /** Serial of the certificate the server presented (verified against pebble's root for `host`). */
  readonly serial: string;
}

/**
 * One HTTPS request to 127.0.0.1:`port` for `host` (SNI and Host), verifying the server's
 * certificate for `host` against `ca` (pebble's root).
 */
function send(
  port: number,
  host: string,
  path: string,
  ca: string,
  options: { method?: string; headers?: Record<string, string>; body?: string; timeoutMs?: number } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({
      host: "127.0.0.1",
      port,
      path,
      method: options.method ?? "GET",
      servername: host,
      headers: { host, ...options.headers },
      ca,
      agent: false,
      timeout: options.timeoutMs ?? 10_000,
    });
    req.on("timeout", () => req.destroy(new Error(`request to ${port} for ${host} timed out`)));
    req.on("error", reject);
    req.on("response", (res) => {
      const serial = (res.socket as TLSSocket).getPeerCertificate().serialNumber;
      let text = "";
      res.setEncoding("utf8").on("data", (chunk: string) => (text += chunk));
      res.on("error", reject);
      res.on("end", () => resolve({ status: res.statusCode ?? 0, text, serial }));
    });
    req.end(options.body);
  });
}

/** POST /api/v1/admin/domains/register through `server` (main domain, pebble's certificate). */
function register(server: GatewayServer, domain: string, ca: string): Promise<Answer> {
  return send(server.httpsPort, ACME_MAIN_DOMAIN, "/api/v1/admin/domains/register", ca, {
    method: "POST",
    headers: { authorization: `Bearer ${ADMIN_API_KEY}`, "content-type": "application/json" },
    body: JSON.stringify({ domain, memo: "acceptance" }),
  });
}

/** The issued "acme order" lines of `domain` in a server's log. */
function issued(server: GatewayServer, domain: string): Array<Record<string, unknown>> {
  return server.process.lines.filter(
    (l) => l.msg === "acme order" && l.domain === domain && l.result === "issued",
  );
}

/** Milliseconds from `sinceMs` until a visitor's request through `server` for `domain` answers 200. */
async function msUntilServed(
  server: GatewayServer,
  domain: string,
  ca: string,
  sinceMs: number,
  deadlineMs: number,
): Promise<number> {
  let last = "";
  const atMs = await pollUntil(
    async () => {
      const answer = await send(server.httpsPort, domain, "/", ca, { timeoutMs: 5_000 }).catch(
        (error: unknown) => ({ status: 0, text: String(error), serial: "" }),
      );
      last = `${answer.status} ${answer.text.slice(0, 200)}`;
      return answer.status === 200 && answer.text === BODY[domain];
    },
    deadlineMs,
    () => `${server.name} never answered 200 for ${domain}: ${last}`,
    20,
  );
  return atMs - sinceMs;
}

describe(
  "one gateway of several servers: the acceptance scenario of issue 17 (PostgreSQL, pebble)",
  { skip: pgSkip() },
  () => {
    it("three servers, one database, pebble: every server serves every domain with one certificate order, survivors answer after kill -9, a server added later serves without restarts or a new order, a PostgreSQL outage keeps requests flowing and fails admin writes with 503", async (t) => {
      // The servers reach PostgreSQL through a forwarder that the test cuts for the outage.
      const database = await cuttablePgDatabase(t);
      const dsn = database.cuttableDsn;

      // pebble validates HTTP-01 through a front switched to one server's plain HTTP port; the
      // others' orders are answered from the store by that server (shared certificates).
      const front = await startTcpFront(t, 1);
      const pebble: PebbleSetup = await preparePebble((fn) => t.after(fn), { httpPort: front.port });
      const running = await pebble.start();
      const root = await running.rootPem();
      const dir = await tempDir(t);
      const rootFile = join(dir, "pebble-root.pem");
      const listenerCaFile = join(dir, "pebble-listener.pem");
      await writeFile(rootFile, root);
      await writeFile(listenerCaFile, pebble.listenerCaPem);
      const shimFile = join(dir, "dns-shim.mjs");
      await writeFile(shimFile, DNS_SHIM);

      /** A server process; new ports and a new try when one was taken meanwhile (freePort's race). */
      const startServer = async (name: string, tries = 3, fronted = false): Promise<GatewayServer> => {
        const [httpPort, httpsPort] = [await freePort(), await freePort()];
        // Before it starts: a server orders its main domain's certificate as it starts, and
        // pebble validates at once (PEBBLE_VA_NOSLEEP), so a front switched after "listening"
        // could send the validation nowhere and fail the order.
        if (fronted) front.switchTo(httpPort);
        const advertise = `${name.toLowerCase()}${SERVERS_SUFFIX}:${httpsPort}`;
        const data = join(await tempDir(t), "data");
        const server = spawnHopgate(
          t,
          [
            "server",
            ...["--domain", ACME_MAIN_DOMAIN, "--https-listen", `127.0.0.1:${httpsPort}`],
            ...["--http-listen", `127.0.0.1:${httpPort}`, "--metrics-listen", "off", "--data-dir", data],
            ...["--tls", "acme", "--acme-ca-dir", pebble.directoryUrl],
            ...["--acme-directory-ca-file", listenerCaFile, "--acme-email", "ops@example.test"],
          ],
          {
            HOP_ADMIN_API_KEY: ADMIN_API_KEY,
            HOP_DB_DSN: dsn,
            HOP_SERVER_ADVERTISE_ADDR: advertise,
            HOP_SERVER_PEER_LISTEN: "127.0.0.1:0",
          },
        );
        try {
          await server.waitForLine((line) => line.msg === "HopGate server listening", 30_000);
        } catch (error) {
          if (tries > 1 && /EADDRINUSE/.test(server.output())) return startServer(name, tries - 1, fronted);
          throw error;
        }
        await server.waitForLine((line) => line.msg === "peer link ready", 30_000);
        return { name, process: server, httpsPort, httpPort, advertise };
      };
      /** The certificate `server` presents for `domain` (pebble-verified), once it has one. */
      const presented = async (server: GatewayServer, domain: string): Promise<string> => {
        let serial = "";
        let last = "";
        await pollUntil(
          async () => {
            // Any answer will do (the admin API's 401, a tenant's 502): the handshake is the point.
            const answer = await send(server.httpsPort, domain, "/", root, { timeoutMs: 5_000 }).catch(
              (error: unknown) => ((last = String(error)), undefined),
            );
            serial = answer?.serial ?? "";
            return serial !== "";
          },
          60_000,
          () => `${server.name} never presented a certificate for ${domain} from pebble: ${last}`,
          200,
        );
        return serial;
      };
      const startedAtMs = Date.now();

      const a = await startServer("A", 3, true);
      await presented(a, ACME_MAIN_DOMAIN);
      // Registered once, through A, before B and C start (how fast a registration reaches running
      // servers is tested on its own, test/cluster/shared-domains.test.ts).
      const keys: Record<string, string> = {};
      for (const domain of DOMAINS) {
        const answer = await register(a, domain, root);
        assert.ok([200, 201].includes(answer.status), `register ${domain}: ${answer.status} ${answer.text}`);
        keys[domain] = (JSON.parse(answer.text) as { client_api_key: string }).client_api_key;
      }
      const b = await startServer("B");
      const c = await startServer("C");

      // /held answers only when the test releases it: requests in flight across the kill.
      const held: Array<() => void> = [];
      const appBackend = await startBackend(t, (req, res) => {
        if (req.url === "/held") held.push(() => res.end(BODY[APP]));
        else res.end(BODY[APP]);
      });
      const relayedBackend = await startBackend(t, (_req, res) => res.end(BODY[RELAYED]));
      const nodeOptions = `${process.env.NODE_OPTIONS ?? ""} --import=${shimFile}`.trim();
      /** `hopgate client` dialling `server` by its advertise address, trusting pebble's root. */
      const startClient = (server: GatewayServer, domain: string, backendUrl: string, extra: string[] = []) =>
        spawnHopgate(
          t,
          [
            "client",
            ...["--server", `https://${server.advertise}`, "--domain", domain, "--api-key", keys[domain]!],
            ...["--service", `web=${backendUrl}`, "--ca-file", rootFile, ...extra],
          ],
          { NODE_OPTIONS: nodeOptions },
        );
      // The v2 client is given A only and must find B and C.
      const appClient = startClient(a, APP, appBackend.url);
      const relayedClient = startClient(b, RELAYED, relayedBackend.url, ["--single-server"]);
      await relayedClient
        .waitForLine((line) => line.msg === "tunnel accepted", 30_000)
        .catch((error: unknown) => {
          throw new Error(`the --single-server client: ${relayedClient.output().slice(-3000)}`, {
            cause: error,
          });
        });

      // Every server serves every domain over TLS verified for the domain, with one certificate.
      const serials = new Map<string, Set<string>>(DOMAINS.map((d) => [d, new Set()]));
      for (const server of [a, b, c])
        for (const domain of DOMAINS) {
          await msUntilServed(server, domain, root, Date.now(), 30_000);
          serials.get(domain)!.add((await send(server.httpsPort, domain, "/", root)).serial);
        }
      for (const domain of DOMAINS)
        assert.equal(serials.get(domain)!.size, 1, `one certificate of ${domain} on A, B and C`);
      t.diagnostic(`A, B and C served both domains ${Date.now() - startedAtMs} ms after A started`);

      // The v2 client holds a tunnel to each server; the --single-server one to B only, so that
      // A and C answered RELAYED by relaying to B.
      const holders = async (domain: string) => {
        const answer = await send(b.httpsPort, ACME_MAIN_DOMAIN, "/api/v1/admin/sessions", root, {
          headers: { authorization: `Bearer ${ADMIN_API_KEY}` },
        });
        assert.equal(answer.status, 200, answer.text);
        const { sessions } = JSON.parse(answer.text) as {
          sessions: Array<{ domain: string; server?: { advertise_address: string | null } }>;
        };
        return sessions
          .filter((s) => s.domain === domain)
          .map((s) => s.server?.advertise_address)
          .sort()
          .join();
      };
      const everyServer = [a, b, c]
        .map((s) => s.advertise)
        .sort()
        .join();
      let listed = "";
      await pollUntil(
        async () => (listed = await holders(APP)) === everyServer,
        30_000,
        () => `the v2 client's tunnels: ${listed}; ${appClient.output().slice(-2000)}`,
        200,
      );
      assert.equal(await holders(RELAYED), b.advertise, "--single-server client on B only");

      // One order per domain across the three.
      for (const domain of [...DOMAINS, ACME_MAIN_DOMAIN])
        assert.deepEqual(
          [a, b, c].map((s) => issued(s, domain).length).reduce((x, y) => x + y),
          1,
          `one order of ${domain} across A, B and C: ${JSON.stringify([a, b, c].map((s) => issued(s, domain).length))}`,
        );

      // kill -9 of A (the address the v2 client was given): B and C answer 200 for every domain.
      // One request in flight on A and one on B when A dies: only A's is lost.
      front.switchTo(c.httpPort);
      const onA = send(a.httpsPort, APP, "/held", root, { timeoutMs: 30_000 });
      const onB = send(b.httpsPort, APP, "/held", root, { timeoutMs: 30_000 });
      onA.catch(() => {});
      await pollUntil(
        () => held.length === 2,
        15_000,
        () => `${held.length} of 2 requests reached the backend`,
      );
      a.process.child.kill("SIGKILL");
      await a.process.exited;
      const killedAtMs = Date.now();
      for (const release of held.splice(0)) release();
      const kept = await within(onB, "the request in flight on B");
      assert.deepEqual([kept.status, kept.text], [200, BODY[APP]], "the request in flight on B answered");
      await assert.rejects(within(onA, "the request in flight on A"), /socket hang up|ECONNRESET/);
      const recovery = await Promise.all(
        [b, c].flatMap((server) =>
          DOMAINS.map(async (domain) => ({
            what: `${server.name} ${domain}`,
            // Issue 17 asks for 5 s; 15 s tells working from broken on a loaded machine.
            ms: await msUntilServed(server, domain, root, killedAtMs, 15_000),
          })),
        ),
      );
      t.diagnostic(
        `after kill -9 of A: 200 after ${recovery.map((r) => `${r.what} ${r.ms} ms`).join(", ")} (issue 17: 5 s)`,
      );
      // The issue's figure itself, asserted: measured at 20-30 ms with a load average of 11 on two
      // cores (survivors serve from tunnels and peer links they already hold), and below the
      // registry's 10 s expiry, so that a survivor waiting for A to expire fails here.
      for (const { what, ms } of recovery) assert.ok(ms < 5_000, `${what}: 200 only ${ms} ms after the kill`);

      // D joins later: it serves both domains, presenting the stored certificates, with no order,
      // and without a restart of B or C; the v2 client opens a tunnel to it.
      const d = await startServer("D");
      const joinedAtMs = Date.now();
      for (const domain of DOMAINS) {
        await msUntilServed(d, domain, root, joinedAtMs, 30_000);
        assert.ok(
          serials.get(domain)!.has(await presented(d, domain)),
          `D presents the stored ${domain} certificate`,
        );
      }
      t.diagnostic(`D served both domains ${Date.now() - joinedAtMs} ms after it started`);
      await pollUntil(
        () =>
          appClient.lines.some(
            (l) =>
              l.msg === "gateway servers" &&
              Array.isArray(l.servers) &&
              l.servers.includes(`https://${d.advertise}`),
          ),
        30_000,
        () => `the v2 client never heard of D: ${appClient.output().slice(-2000)}`,
        100,
      );
      for (const domain of [...DOMAINS, ACME_MAIN_DOMAIN])
        assert.equal(issued(d, domain).length, 0, `D ordered no certificate of ${domain}`);
      for (const server of [b, c])
        assert.equal(server.process.child.exitCode, null, `${server.name} still runs`);

      // PostgreSQL unreachable: requests keep flowing; an admin write fails clearly (503).
      await database.cut();
      const cutAtMs = Date.now();
      for (let round = 0; round < 3; round++)
        for (const server of [b, c, d])
          for (const domain of DOMAINS) {
            const answer = await send(server.httpsPort, domain, "/", root);
            assert.equal(answer.status, 200, `${server.name} ${domain} during the outage: ${answer.text}`);
            assert.equal(answer.text, BODY[domain]);
          }
      const writeStartedAtMs = Date.now();
      const refused = await within(
        register(c, "during-outage.example.test", root),
        "an admin write during the outage",
        20_000,
      );
      assert.equal(refused.status, 503, refused.text);
      assert.deepEqual(JSON.parse(refused.text), {
        success: false,
        error: { code: "unavailable", message: "store unavailable" },
      });
      t.diagnostic(
        `admin write refused with 503 in ${Date.now() - writeStartedAtMs} ms, ${Date.now() - cutAtMs} ms into the outage`,
      );

      await database.restore();
      let last = "";
      await pollUntil(
        async () => {
          const answer = await register(c, "after-outage.example.test", root);
          last = `${answer.status} ${answer.text}`;
          return answer.status === 200 || answer.status === 201;
        },
        20_000,
        () => `admin writes never worked again: ${last}`,
        200,
      );
      for (const server of [b, c, d])
        for (const domain of DOMAINS)
          assert.equal((await send(server.httpsPort, domain, "/", root)).status, 200);
      t.diagnostic(`whole scenario ${Date.now() - startedAtMs} ms`);
    });
  },
);
