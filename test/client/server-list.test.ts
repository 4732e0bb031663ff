import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { GatewayServers } from "../../src/client/gateway-servers.js";
import { MAX_GATEWAY_SERVERS, originOf, parseServerList } from "../../src/client/server-list.js";
import { captureLogs } from "../helpers/log-capture.js";

const BOOTSTRAP = "https://gateway.example.test:8443";

/** Entries a server may send, well-formed or not, hostile ones often. */
const entry = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.constantFrom(
    "a.example.test:443",
    "127.0.0.1:8443",
    "[::1]:8443",
    "user:pass@evil.example:443",
    "evil.example:443/path",
    "evil.example:443?q",
    "evil.example:443#f",
    "https://evil.example:443",
    "evil.example",
    "evil.example:0",
    "evil.example:65536",
    "evil.example:+443",
    "[::1]",
    "[not-v6]:443",
    "::1:443",
    "1.2.3:443",
    "999.1.1.1:443",
    "-bad.example:443",
    "a..b:443",
    "evil.example:443\n",
    " evil.example:443",
    "evil\u0000.example:443",
    "xn--nxasmq6b.example:443",
    "ÉVIL.example:443",
    `${"a".repeat(64)}.example:443`,
    `${"a.".repeat(200)}example:443`,
  ),
  fc.tuple(fc.domain(), fc.integer({ min: -5, max: 70_000 })).map(([host, port]) => `${host}:${port}`),
  fc.ipV4().map((ip) => `${ip}:443`),
  fc.ipV6().map((ip) => `[${ip}]:443`),
);
/** Lists of any length, up to far past the bound, sometimes with a non-string smuggled in. */
const hostileList = fc.array(fc.oneof({ weight: 20, arbitrary: entry }, fc.anything()), { maxLength: 300 });

describe("server lists a server advertises", () => {
  it("keeps exactly host:port entries with a DNS name, IPv4 or [IPv6] and a port 1-65535", () => {
    const cases: Array<[string, string | undefined]> = [
      ["a.example.test:443", "https://a.example.test"],
      ["A.Example.Test:8443", "https://a.example.test:8443"],
      ["127.0.0.1:8443", "https://127.0.0.1:8443"],
      ["[::1]:8443", "https://[::1]:8443"],
      ["localhost:1", "https://localhost:1"],
      ["user:pass@evil.example:443", undefined],
      ["user@evil.example:443", undefined],
      ["evil.example:443/path", undefined],
      ["evil.example:443?q", undefined],
      ["https://evil.example:443", undefined],
      ["evil.example", undefined],
      ["evil.example:0", undefined],
      ["evil.example:65536", undefined],
      ["[::1]", undefined],
      ["[zz::1]:443", undefined],
      ["::1:443", undefined],
      ["1.2.3:443", undefined],
      ["999.1.1.1:443", undefined],
      ["-bad.example:443", undefined],
      ["a..b:443", undefined],
      [" evil.example:443", undefined],
      ["evil.example:443\n", undefined],
      [`${"a".repeat(64)}.example:443`, undefined],
    ];
    for (const [input, expected] of cases) assert.equal(originOf(input), expected, input);
  });

  it("bounds the list and drops duplicates", () => {
    const many = Array.from({ length: 40 }, (_, i) => `s${i}.example.test:443`);
    const parsed = parseServerList([...many, many[0], "bad"]);
    assert.equal(parsed.origins.length, MAX_GATEWAY_SERVERS);
    assert.equal(parsed.origins[0], "https://s0.example.test");
    assert.equal(parsed.dropped, 40 - MAX_GATEWAY_SERVERS + 1);
  });

  it("never throws on a hostile list, and yields only bounded, well-formed https origins", () => {
    fc.assert(
      fc.property(hostileList, (list) => {
        const { origins } = parseServerList(list);
        assert.ok(origins.length <= MAX_GATEWAY_SERVERS);
        assert.equal(new Set(origins).size, origins.length);
        for (const origin of origins) {
          const url = new URL(origin);
          assert.equal(url.protocol, "https:");
          assert.equal(url.username + url.password, "");
          assert.equal(url.pathname + url.search + url.hash, "/");
          assert.equal(url.origin, origin);
          // Every kept origin came from an entry that reads back to it.
          assert.ok(list.some((e) => originOf(e) === origin));
        }
      }),
      { numRuns: 500 },
    );
  });

  it("GatewayServers: the configured server stays first and is always held; a ServerList always applies, an empty TunnelAccept list never does", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(hostileList, fc.boolean()), { maxLength: 8 }), (lists) => {
        const logs = captureLogs();
        const servers = new GatewayServers({ bootstrap: BOOTSTRAP, follow: true, logger: logs.logger });
        let heard: readonly string[] | undefined;
        servers.subscribe((wanted) => (heard = wanted));
        let expected: readonly string[] = [BOOTSTRAP];
        for (const [list, initial] of lists) {
          servers.advertised(list as string[], "https://peer.example.test", initial);
          if (!(initial && list.length === 0)) {
            const origins = parseServerList(list).origins.filter((o) => o !== BOOTSTRAP);
            expected = [BOOTSTRAP, ...origins];
          }
          assert.deepEqual(servers.wanted, expected);
        }
        if (heard) assert.deepEqual(heard, servers.wanted);
        assert.ok(servers.wanted.length <= MAX_GATEWAY_SERVERS + 1);
      }),
      { numRuns: 300 },
    );
  });

  it("GatewayServers with the opt-out holds the configured server only", () => {
    const servers = new GatewayServers({ bootstrap: BOOTSTRAP, follow: false, logger: captureLogs().logger });
    servers.advertised(["b.example.test:443"], BOOTSTRAP, true);
    servers.advertised(["c.example.test:443"], BOOTSTRAP, false);
    assert.deepEqual(servers.wanted, [BOOTSTRAP]);
  });
});
