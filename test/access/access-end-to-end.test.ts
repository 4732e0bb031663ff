import assert from "node:assert/strict";
import { once } from "node:events";
import type { ClientRequest, IncomingHttpHeaders, IncomingMessage } from "node:http";
import { createServer } from "node:net";
import { describe, it, type TestContext } from "node:test";
import fc from "fast-check";
import { WebSocket, WebSocketServer } from "ws";
import { startBackend } from "../helpers/backend.js";
import { startGateway, startTestClient } from "../helpers/gateway.js";
import { namelessEntry, spelled } from "../helpers/forwarded-for-spellings.js";
import {
  forwardedElement,
  malformedForwardedElement,
  namelessForwardedElement,
} from "../helpers/forwarded-spellings.js";
import { captureLogs } from "../helpers/log-capture.js";
import { sampleValue } from "../helpers/prometheus-text.js";
import { tlsFixture } from "../helpers/tls-fixture.js";
import { visit, type VisitOptions } from "../helpers/visit.js";

const ADMIN_KEY = "access-test-admin-key-0123456789";
const DOMAIN = "app.example.test";
const basic = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;

/**
 * A gateway (listening on `listen`), a client for DOMAIN and a backend that counts what reaches
 * it; `admin` calls the admin API, `get` visits DOMAIN.
 */
async function accessSetup(t: TestContext, listen = "127.0.0.1:0", flags: Record<string, string> = {}) {
  const logs = captureLogs();
  const gateway = await startGateway(
    t,
    { adminApiKey: ADMIN_KEY, httpsListen: listen, ...flags },
    logs.logger,
  );
  const seen: string[] = [];
  const received: IncomingHttpHeaders[] = [];
  const backend = await startBackend(t, (req, res) => {
    seen.push(`${req.method} ${req.url}`);
    received.push(req.headers);
    res.writeHead(200, { "content-type": "text/plain" });
    res.end("backend");
  });
  const wss = new WebSocketServer({ server: backend.server });
  wss.on("connection", (socket, req) => {
    seen.push(`WS ${req.url}`);
    socket.send("hello");
  });
  t.after(() => wss.close());
  const key = await gateway.register(DOMAIN);
  await startTestClient(t, gateway, DOMAIN, key, [`web=${backend.url}`]).connected;
  const admin = async (method: string, body?: unknown) => {
    const response = await visit(gateway.port, "gateway.test", `/api/v1/admin/domains/${DOMAIN}/access`, {
      method,
      headers: {
        authorization: `Bearer ${ADMIN_KEY}`,
        ...(body !== undefined && { "content-type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return {
      status: response.status,
      text: response.body.toString(),
      json: () => JSON.parse(response.body.toString()) as Record<string, unknown>,
    };
  };
  const get = (path: string, options: VisitOptions = {}) => visit(gateway.port, DOMAIN, path, options);
  const metric = async (reason: string) => {
    const text = await (await fetch(`http://127.0.0.1:${gateway.server.metricsPort}/metrics`)).text();
    return sampleValue(text, `hopgate_access_denied_total{reason="${reason}"}`);
  };
  return { gateway, seen, received, admin, get, metric, logs };
}

/** Whether this machine can listen on ::1 (containers without IPv6 cannot). */
async function hasIpv6Loopback(): Promise<boolean> {
  const server = createServer();
  try {
    server.listen(0, "::1");
    await once(server, "listening");
    return true;
  } catch {
    return false; // EADDRNOTAVAIL: the test that needs ::1 is skipped, saying why
  } finally {
    server.close();
  }
}

const IPV6_LOOPBACK = await hasIpv6Loopback();

function openWebSocket(port: number, headers: Record<string, string>) {
  const tlsOptions = { servername: DOMAIN, ca: tlsFixture().cert };
  return new WebSocket(`wss://127.0.0.1:${port}/socket`, {
    headers: { host: DOMAIN, ...headers },
    ...tlsOptions,
  });
}

describe("visitor access policy, end to end", () => {
  it("asks for basic auth over HTTP/1.1, HTTP/2 and WebSocket; the denied never reach the backend", async (t) => {
    const { gateway, seen, admin, get, metric, logs } = await accessSetup(t);
    const put = await admin("PUT", { basic_auth: [{ username: "alice", password: "correct horse" }] });
    assert.equal(put.status, 200, put.text);

    for (const http2 of [false, true]) {
      const denied = await get("/private", { http2 });
      assert.equal(denied.status, 401);
      assert.equal(denied.headers["www-authenticate"], `Basic realm="${DOMAIN}", charset="UTF-8"`);
      const wrong = await get("/private", {
        http2,
        headers: { authorization: basic("alice", "wrong horse") },
      });
      assert.equal(wrong.status, 401);
      const allowed = await get("/private", {
        http2,
        headers: { authorization: basic("alice", "correct horse") },
      });
      assert.equal(allowed.status, 200);
      assert.equal(allowed.body.toString(), "backend");
    }
    assert.deepEqual(seen, ["GET /private", "GET /private"], "only the two admitted requests arrived");

    const refused = openWebSocket(gateway.port, {});
    const [request, response] = (await once(refused, "unexpected-response")) as [
      ClientRequest,
      IncomingMessage,
    ];
    request.destroy(); // ws leaves a refused handshake's request to the listener of this event
    assert.equal(response.statusCode, 401);
    assert.match(String(response.headers["www-authenticate"]), /^Basic realm=/);
    assert.ok(!seen.some((line) => line.startsWith("WS")), "the refused upgrade never reached the backend");

    const accepted = openWebSocket(gateway.port, { authorization: basic("alice", "correct horse") });
    t.after(() => accepted.terminate());
    const [message] = (await once(accepted, "message")) as [Buffer];
    assert.equal(message.toString(), "hello");
    assert.ok(seen.includes("WS /socket"));

    assert.equal(await metric("basic_auth"), 5, "two missing and two wrong over HTTP, one upgrade");
    const lines = logs.lines.filter((line) => line.msg === "request" && line.access_denied === "basic_auth");
    assert.equal(lines.length, 5);
    assert.equal(lines[0]?.status, 401);
  });

  it("blocks an address after repeated wrong passwords, even with the right one, without hashing", async (t) => {
    const { seen, admin, get, metric, logs } = await accessSetup(t, "127.0.0.1:0", { authMaxFailures: "3" });
    assert.equal(
      (await admin("PUT", { basic_auth: [{ username: "alice", password: "correct horse" }] })).status,
      200,
    );
    const guesses = await Promise.all(
      [1, 2, 3].map((n) => get("/", { headers: { authorization: basic("alice", `guess ${n}`) } })),
    );
    assert.deepEqual(
      guesses.map((r) => r.status),
      [401, 401, 401],
    );
    const blocked = await get("/", {
      http2: true,
      headers: { authorization: basic("alice", "correct horse") },
    });
    assert.equal(blocked.status, 429);
    assert.equal(blocked.headers["retry-after"], "300");
    assert.deepEqual(seen, []);
    assert.equal(await metric("auth_blocked"), 1);
    assert.ok(
      logs.lines.some(
        (line) => line.msg === "visitor address blocked after repeated failed basic-auth attempts",
      ),
    );
    const tunnelAuth = await admin("GET");
    assert.equal(tunnelAuth.status, 200, "the admin API is not blocked by visitors' failures");
  });

  it("refuses HEAD, OPTIONS preflights and every path spelling alike", async (t) => {
    const { seen, admin, get } = await accessSetup(t);
    assert.equal(
      (await admin("PUT", { basic_auth: [{ username: "alice", password: "correct horse" }] })).status,
      200,
    );
    const preflight = {
      origin: "https://evil.example",
      "access-control-request-method": "GET",
      "access-control-request-headers": "authorization",
    };
    const attempts: Array<[string, VisitOptions]> = [
      ["/", { method: "HEAD" }],
      ["/private", { method: "OPTIONS", headers: preflight }],
      ["*", { method: "OPTIONS" }],
      ["/%2e%2e/private", {}],
      ["/./private/", {}],
      ["//private", {}],
      ["/PRIVATE?x=1", { method: "POST", body: "data" }],
    ];
    for (const http2 of [false, true]) {
      for (const [path, options] of attempts) {
        const response = await get(path, { ...options, http2 });
        assert.equal(
          response.status,
          401,
          `${options.method ?? "GET"} ${path} over ${http2 ? "HTTP/2" : "HTTP/1.1"}`,
        );
      }
    }
    assert.deepEqual(seen, []);
  });

  it(
    "denies by the real peer address, IPv4-mapped and IPv6 alike, ignoring X-Forwarded-For",
    {
      skip: IPV6_LOOPBACK ? false : "no IPv6 loopback (::1) on this machine",
    },
    async (t) => {
      // A dual-stack listener: 127.0.0.1 arrives as ::ffff:127.0.0.1, ::1 as itself.
      const { gateway, seen, admin, get, metric, logs } = await accessSetup(t, "[::]:0");
      const spoof = { "x-forwarded-for": "10.0.0.1", forwarded: "for=10.0.0.1", "x-real-ip": "10.0.0.1" };
      const v6 = { address: "::1" };

      assert.equal((await admin("PUT", { deny: ["127.0.0.0/8"], allow: ["10.0.0.0/8", "::1"] })).status, 200);
      assert.equal((await get("/", { headers: spoof })).status, 403, "mapped IPv4 127.0.0.1 is denied");
      assert.equal((await get("/", { headers: spoof, http2: true })).status, 403);
      assert.equal((await get("/", { ...v6, headers: spoof })).status, 200, "::1 is allowed");

      assert.equal(
        (await admin("PUT", { deny: ["::1/128"], allow: ["10.0.0.0/8", "127.0.0.1"] })).status,
        200,
      );
      assert.equal((await get("/", { ...v6, headers: spoof })).status, 403, "::1 is denied");
      assert.equal((await get("/", { ...v6, headers: spoof, http2: true })).status, 403);
      assert.equal((await get("/", { headers: spoof })).status, 200, "127.0.0.1 is allowed");

      assert.equal((await admin("PUT", { allow: ["10.0.0.0/8"] })).status, 200);
      assert.equal((await get("/", { headers: spoof })).status, 403, "a forwarded 10.0.0.1 does not count");
      assert.equal((await get("/", { ...v6, headers: spoof })).status, 403);

      assert.deepEqual(seen, ["GET /", "GET /"]);
      assert.equal(await metric("ip_denied"), 4);
      assert.equal(await metric("ip_not_allowed"), 2);
      const denied = logs.lines.filter((line) => line.msg === "request" && line.status === 403);
      assert.ok(denied.some((line) => line.remote_addr === "::1" && line.access_denied === "ip_denied"));
      void gateway;
    },
  );

  it("behind a trusted front proxy, denies by the X-Forwarded-For address it appended and forwards the chain", async (t) => {
    const { seen, received, admin, get, metric, logs } = await accessSetup(t, "127.0.0.1:0", {
      trustedProxies: "127.0.0.1,::1",
    });
    assert.equal((await admin("PUT", { deny: ["10.0.0.1"] })).status, 200);
    for (const http2 of [false, true]) {
      const denied = await get("/", { http2, headers: { "x-forwarded-for": "10.0.0.1" } });
      assert.equal(denied.status, 403, `over ${http2 ? "HTTP/2" : "HTTP/1.1"}`);
      const injected = await get("/", { http2, headers: { "x-forwarded-for": ["10.0.0.1", "203.0.113.9"] } });
      assert.equal(injected.status, 200, "what the visitor wrote left of its own address does not count");
    }
    assert.equal((await get("/")).status, 200, "no header: the trusted peer itself");
    assert.deepEqual(seen, ["GET /", "GET /", "GET /"]);
    assert.equal(received[0]?.["x-forwarded-for"], "203.0.113.9, 127.0.0.1");
    assert.equal(received[0]?.["x-real-ip"], "203.0.113.9");
    assert.equal(received[0]?.forwarded, "for=203.0.113.9, for=127.0.0.1;host=app.example.test;proto=https");
    assert.equal(received[2]?.["x-forwarded-for"], "127.0.0.1");
    assert.equal(await metric("ip_denied"), 2);
    const lines = logs.lines.filter((line) => line.msg === "request");
    assert.deepEqual(
      lines.map((line) => [line.status, line.remote_addr]),
      [
        [403, "10.0.0.1"],
        [200, "203.0.113.9"],
        [403, "10.0.0.1"],
        [200, "203.0.113.9"],
        [200, "127.0.0.1"],
      ],
    );
  });

  it(
    "behind trusted front proxies, lets through exactly the visitors the allow list holds, however the proxies spell the chain, over HTTP/1.1 and HTTP/2",
    { skip: IPV6_LOOPBACK ? false : "no IPv6 loopback (::1) on this machine" },
    async (t) => {
      // Dual-stack: an IPv4 visit arrives from ::ffff:127.0.0.1, an IPv6 one from ::1.
      const { seen, received, admin, get } = await accessSetup(t, "[::]:0", {
        trustedProxies: "127.0.0.1,::1,10.0.0.0/8,2001:db8:ff::/48",
      });
      // The proxies' own ranges are allowed too (an internal network): a chain that makes a
      // proxy the visitor lets anyone in.
      const allow = [
        "198.51.100.0/24",
        "2001:db8:aa::/48",
        "10.0.0.0/8",
        "2001:db8:ff::/48",
        "127.0.0.1",
        "::1",
      ];
      assert.equal((await admin("PUT", { allow })).status, 200);
      // The model: which visitor address the allow list holds (proxies never are visitors here).
      const allowed = (address: string | undefined) =>
        address !== undefined && (address.startsWith("198.51.100.") || address.startsWith("2001:db8:aa:"));

      const octet = fc.integer({ min: 1, max: 254 });
      const group = fc.integer({ min: 1, max: 0xffff }).map((n) => n.toString(16));
      const visitorAddress = fc.oneof(
        octet.map((n) => `198.51.100.${n}`),
        octet.map((n) => `::ffff:198.51.100.${n}`),
        group.map((g) => `2001:db8:aa::${g}`),
        octet.map((n) => `203.0.113.${n}`),
        octet.map((n) => `::ffff:203.0.113.${n}`),
        group.map((g) => `2001:db9::${g}`),
      );
      const proxyAddress = fc.oneof(
        fc.tuple(octet, octet).map(([a, b]) => `10.0.${a}.${b}`),
        group.map((g) => `2001:db8:ff::${g}`),
      );
      const entry = (address: fc.Arbitrary<string>) =>
        address.chain((a) => spelled(a).map((text) => ({ address: a, text: text.trim() })));
      const canonical = (address: string) => address.replace(/^::ffff:/, "");
      let runs = 0;

      await fc.assert(
        fc.asyncProperty(
          fc.record({
            http2: fc.boolean(),
            ipv6Peer: fc.boolean(),
            // What the visitor wrote itself: addresses the allow list holds, and junk.
            injected: fc.array(fc.oneof(entry(visitorAddress), entry(proxyAddress), namelessEntry), {
              maxLength: 3,
            }),
            // The address the outermost trusted proxy appended, or an entry naming none.
            visitor: fc.oneof(
              { weight: 4, arbitrary: entry(visitorAddress) },
              { weight: 1, arbitrary: namelessEntry.map((text) => ({ address: undefined, text })) },
            ),
            hops: fc.array(entry(proxyAddress), { maxLength: 3 }),
            oneLinePerEntry: fc.boolean(),
            spoofs: fc.boolean(),
          }),
          async ({ http2, ipv6Peer, injected, visitor, hops, oneLinePerEntry, spoofs }) => {
            runs += 1;
            const entries = [...injected.map((e) => (typeof e === "string" ? e : e.text)), visitor.text];
            entries.push(...hops.map((hop) => hop.text));
            const lines = oneLinePerEntry ? entries : [entries.join(", ")];
            const headers: Record<string, string | string[]> = { "x-forwarded-for": lines };
            if (spoofs)
              Object.assign(headers, { forwarded: "for=198.51.100.9", "x-real-ip": "198.51.100.9" });
            const before = received.length;
            const response = await get("/", { http2, headers, ...(ipv6Peer && { address: "::1" }) });
            const expected = visitor.address === undefined ? undefined : canonical(visitor.address);
            const what = `${expected ?? "unknown"} via ${JSON.stringify(lines)} over ${http2 ? "h2" : "h1"}`;
            assert.equal(response.status, allowed(expected) ? 200 : 403, what);
            if (response.status === 200) {
              assert.equal(received.length, before + 1);
              assert.equal(received.at(-1)?.["x-real-ip"], expected, what);
            } else {
              assert.equal(received.length, before, `refused, yet the backend saw ${what}`);
            }
          },
        ),
        { numRuns: 60 },
      );
      assert.equal(seen.length, received.length);
      assert.ok(runs >= 60);
    },
  );

  it(
    "behind trusted front proxies that write Forwarded, lets through exactly the visitors the allow list holds, ignores X-Forwarded-For and forwards only the trusted chain, over HTTP/1.1 and HTTP/2",
    { skip: IPV6_LOOPBACK ? false : "no IPv6 loopback (::1) on this machine" },
    async (t) => {
      const { seen, received, admin, get } = await accessSetup(t, "[::]:0", {
        trustedProxies: "127.0.0.1,::1,10.0.0.0/8,2001:db8:ff::/48",
        trustedProxyHeader: "forwarded",
      });
      const allow = [
        "198.51.100.0/24",
        "2001:db8:aa::/48",
        "10.0.0.0/8",
        "2001:db8:ff::/48",
        "127.0.0.1",
        "::1",
      ];
      assert.equal((await admin("PUT", { allow })).status, 200);
      const allowed = (address: string | undefined) =>
        address !== undefined && (address.startsWith("198.51.100.") || address.startsWith("2001:db8:aa:"));

      const octet = fc.integer({ min: 1, max: 254 });
      const group = fc.integer({ min: 1, max: 0xffff }).map((n) => n.toString(16));
      const visitorAddress = fc.oneof(
        octet.map((n) => `198.51.100.${n}`),
        octet.map((n) => `::ffff:198.51.100.${n}`),
        group.map((g) => `2001:db8:aa::${g}`),
        octet.map((n) => `203.0.113.${n}`),
        group.map((g) => `2001:db9::${g}`),
      );
      const proxyAddress = fc.oneof(
        fc.tuple(octet, octet).map(([a, b]) => `10.0.${a}.${b}`),
        group.map((g) => `2001:db8:ff::${g}`),
      );
      const element = (address: fc.Arbitrary<string>) =>
        address.chain((a) => forwardedElement(a).map((text) => ({ address: a, text })));
      const canonical = (address: string) => address.replace(/^::ffff:/, "");
      // RFC 7239 §6: what the backend's Forwarded says of each hop.
      const node = (hop: string) => (hop.includes(":") ? `"[${hop}]"` : hop);
      let runs = 0;

      await fc.assert(
        fc.asyncProperty(
          fc.record({
            http2: fc.boolean(),
            ipv6Peer: fc.boolean(),
            // What the visitor wrote itself: elements for addresses the allow list holds, nameless
            // ones, and a line of its own that breaks the grammar.
            injected: fc.array(
              fc.oneof(element(visitorAddress), element(proxyAddress), namelessForwardedElement),
              {
                maxLength: 3,
              },
            ),
            brokenLine: fc.option(malformedForwardedElement, { nil: undefined }),
            // The element the outermost trusted proxy appended, or one naming no address.
            visitor: fc.oneof(
              { weight: 4, arbitrary: element(visitorAddress) },
              {
                weight: 1,
                arbitrary: namelessForwardedElement.map((text) => ({ address: undefined, text })),
              },
            ),
            hops: fc.array(element(proxyAddress), { maxLength: 3 }),
            oneLinePerElement: fc.boolean(),
          }),
          async ({ http2, ipv6Peer, injected, brokenLine, visitor, hops, oneLinePerElement }) => {
            runs += 1;
            const elements = [...injected.map((e) => (typeof e === "string" ? e : e.text)), visitor.text];
            elements.push(...hops.map((hop) => hop.text));
            const lines = oneLinePerElement ? elements : [elements.join(", ")];
            if (brokenLine !== undefined) lines.unshift(brokenLine);
            // X-Forwarded-For and X-Real-IP name an allowed visitor: never read in this mode.
            const headers = {
              forwarded: lines,
              "x-forwarded-for": "198.51.100.9, 10.0.0.1",
              "x-real-ip": "198.51.100.9",
            };
            const before = received.length;
            const response = await get("/", { http2, headers, ...(ipv6Peer && { address: "::1" }) });
            const expected = visitor.address === undefined ? undefined : canonical(visitor.address);
            const what = `${expected ?? "unknown"} via ${JSON.stringify(lines)} over ${http2 ? "h2" : "h1"}`;
            assert.equal(response.status, allowed(expected) ? 200 : 403, what);
            if (response.status !== 200) {
              assert.equal(received.length, before, `refused, yet the backend saw ${what}`);
              return;
            }
            assert.equal(received.length, before + 1);
            const got = received.at(-1)!;
            const chain = [
              expected!,
              ...hops.map((hop) => canonical(hop.address)),
              ipv6Peer ? "::1" : "127.0.0.1",
            ];
            assert.equal(got["x-real-ip"], expected, what);
            assert.equal(got["x-forwarded-for"], chain.join(", "), what);
            // Only HopGate's own elements: none the visitor wrote, each proxy's other parameters dropped.
            assert.equal(
              got.forwarded,
              `${chain.map((hop) => `for=${node(hop)}`).join(", ")};host=${DOMAIN};proto=https`,
              what,
            );
          },
        ),
        { numRuns: 60 },
      );
      assert.equal(seen.length, received.length);
      assert.ok(runs >= 60);
    },
  );

  it("behind a trusted front proxy, counts wrong passwords and the request rate per visitor, not per proxy", async (t) => {
    const { seen, admin, get, metric } = await accessSetup(t, "127.0.0.1:0", {
      trustedProxies: "127.0.0.1",
      authMaxFailures: "2",
      maxRequestsPerIpPerSecond: "1",
      requestBurstPerIp: "3",
    });
    assert.equal(
      (await admin("PUT", { basic_auth: [{ username: "alice", password: "correct horse" }] })).status,
      200,
    );
    const from = (visitor: string, password?: string) =>
      get("/", {
        headers: {
          "x-forwarded-for": visitor,
          ...(password !== undefined && { authorization: basic("alice", password) }),
        },
      });
    // Without credentials (a challenge, no hashing): quick enough for a bucket of 3 at 1/s.
    const quick = [];
    for (let i = 0; i < 4; i++) quick.push((await from("198.51.100.7")).status);
    assert.deepEqual(quick, [401, 401, 401, 429], "the fourth request at once is over that visitor's burst");
    assert.equal((await from("192.0.2.1")).status, 401, "another visitor has its own bucket");

    assert.equal((await from("203.0.113.9", "guess 1")).status, 401);
    assert.equal((await from("203.0.113.9", "guess 2")).status, 401);
    assert.equal((await from("203.0.113.9", "correct horse")).status, 429, "the guesser is blocked");
    assert.equal(await metric("auth_blocked"), 1);
    assert.equal((await from("192.0.2.1", "correct horse")).status, 200, "another visitor is not");
    assert.equal(seen.length, 1);
  });

  it("without trusted proxies, ignores X-Forwarded-For and forwards only the peer", async (t) => {
    const { seen, received, admin, get } = await accessSetup(t);
    assert.equal((await admin("PUT", { deny: ["10.0.0.1"] })).status, 200);
    for (const http2 of [false, true]) {
      const response = await get("/", { http2, headers: { "x-forwarded-for": "10.0.0.1" } });
      assert.equal(response.status, 200, `over ${http2 ? "HTTP/2" : "HTTP/1.1"}`);
    }
    assert.deepEqual(seen, ["GET /", "GET /"]);
    assert.equal(received[0]?.["x-forwarded-for"], "127.0.0.1");
    assert.equal(received[0]?.["x-real-ip"], "127.0.0.1");
  });

  it("requires the secret header with exactly its value", async (t) => {
    const { seen, admin, get } = await accessSetup(t);
    const secret = "machine-token-0123456789abcdef";
    assert.equal((await admin("PUT", { secret_header: { name: "X-Token", value: secret } })).status, 200);
    for (const http2 of [false, true]) {
      assert.equal((await get("/", { http2 })).status, 403);
      assert.equal((await get("/", { http2, headers: { "x-token": `${secret}x` } })).status, 403);
      assert.equal((await get("/", { http2, headers: { "x-token": secret } })).status, 200);
    }
    assert.equal(
      (await get("/", { headers: { "x-token": [secret, secret] } })).status,
      403,
      "twice is refused",
    );
    assert.deepEqual(seen, ["GET /", "GET /"]);
  });

  it("limits the domain's request rate with 429 and Retry-After", async (t) => {
    const { seen, admin, get, metric } = await accessSetup(t);
    // One request per 5 s, burst one: the second and third of a quick series are refused.
    assert.equal((await admin("PUT", { rate_limit_per_second: 0.2 })).status, 200);
    assert.equal((await get("/")).status, 200);
    for (const http2 of [false, true]) {
      const limited = await get("/", { http2 });
      assert.equal(limited.status, 429);
      assert.ok(
        ["4", "5"].includes(String(limited.headers["retry-after"])),
        String(limited.headers["retry-after"]),
      );
    }
    assert.deepEqual(seen, ["GET /"]);
    assert.equal(await metric("rate"), 2);
  });

  it("round-trips the policy through the admin API without hashes, in force at the next request, cleared by DELETE", async (t) => {
    const { admin, get } = await accessSetup(t);
    assert.deepEqual((await admin("GET")).json(), { success: true, domain: DOMAIN, access: null });
    const body = {
      basic_auth: [{ username: "alice", password: "correct horse battery" }],
      allow: ["10.0.0.0/8", "::ffff:127.0.0.0/104", "2001:DB8::/32"],
      deny: [],
      secret_header: { name: "X-Token", value: "machine-token-0123456789abcdef" },
      rate_limit_per_second: 10,
    };
    const put = await admin("PUT", body);
    assert.equal(put.status, 200, put.text);
    const expected = {
      success: true,
      domain: DOMAIN,
      access: {
        basic_auth: [{ username: "alice" }],
        allow: ["10.0.0.0/8", "127.0.0.0/8", "2001:db8::/32"],
        deny: [],
        secret_header: { name: "x-token" },
        rate_limit_per_second: 10,
      },
    };
    assert.deepEqual(put.json(), expected);
    const read = await admin("GET");
    assert.deepEqual(read.json(), expected);
    for (const secret of ["correct horse", "machine-token", "scrypt", "sha256"])
      assert.ok(!read.text.includes(secret), secret);
    assert.equal((await get("/")).status, 403, "in force at once: the secret header is missing");

    const bad = await admin("PUT", { allow: ["10.0.0.0/33"] });
    assert.equal(bad.status, 400);
    assert.match(bad.text, /allow\.0: 10\.0\.0\.0\/33: the prefix length must be a number from 0 to 32/);

    assert.equal((await admin("DELETE")).status, 200);
    assert.deepEqual((await admin("GET")).json(), { success: true, domain: DOMAIN, access: null });
    assert.equal((await get("/")).status, 200, "cleared at once");
  });
});
