import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { silentLogger } from "../../src/lib/logger.js";
import { createAdminApi } from "../../src/server/admin/admin-api.js";
import { createDomainRepository } from "../../src/server/store/domain-repository.js";
import { adminCaller } from "../helpers/admin-client.js";
import { startPlainAdminListener } from "../helpers/admin-server.js";
import { openTestDatabase, storeBackends, suiteCleanup } from "../helpers/store-backends.js";

const ADMIN_KEY = "validation-admin-key-0123";
const MAIN_DOMAIN = "HopGate.Example.com";

const label = (char: string, length: number) => char.repeat(length);
const name253 = `${label("a", 63)}.${label("b", 63)}.${label("c", 63)}.${label("d", 61)}`;
const name254 = `${label("a", 63)}.${label("b", 63)}.${label("c", 63)}.${label("d", 62)}`;

/** [what, input, registered name or the error message it must produce] */
const CASES: Array<[string, unknown, { ok: string } | { error: RegExp }]> = [
  ["a plain name", "plain.example.com", { ok: "plain.example.com" }],
  ["an IDN (to punycode)", "Bücher.example", { ok: "xn--bcher-kva.example" }],
  ["a trailing dot (stripped once)", "dot.example.com.", { ok: "dot.example.com" }],
  ["uppercase (lowercased)", "UPPER.Example.COM", { ok: "upper.example.com" }],
  ["surrounding spaces (trimmed)", "  trim.example.com  ", { ok: "trim.example.com" }],
  ["253 characters", name253, { ok: name253 }],
  ["a port", "port.example.com:8080", { error: /^domain must not contain a port, path or scheme$/ }],
  ["a URL", "https://url.example.com/", { error: /port, path or scheme/ }],
  ["a wildcard base domain", " *.Tunnel.Example.com. ", { ok: "*.tunnel.example.com" }],
  [
    "a wildcard over one label",
    "*.com",
    { error: /^domain: wildcard base: domain must have at least two labels/ },
  ],
  [
    "two wildcard labels",
    "*.*.example.com",
    { error: /^domain: a wildcard domain has exactly one leading '\*\.' label$/ },
  ],
  [
    "an inner wildcard",
    "a.*.example.com",
    { error: /^domain: a wildcard domain must start with exactly one '\*\.' label$/ },
  ],
  ["a wildcard without its dot", "*example.com", { error: /must start with exactly one '\*\.' label$/ }],
  [
    "a wildcard over the main domain",
    "*.HopGate.example.com",
    { error: /^domain: hopgate\.example\.com is the server's own main domain$/ },
  ],
  ["an IPv4 address", "192.168.1.10", { error: /^domain: an IP address is not a domain name$/ }],
  ["an IPv6 address", "::1", { error: /^domain: an IP address is not a domain name$/ }],
  ["a bracketed IPv6 address", "[2001:db8::1]", { error: /^domain: an IP address is not a domain name$/ }],
  [
    "an IPv4 address in fullwidth digits",
    "１２７.０.０.１",
    { error: /^domain: an IP address is not a domain name$/ },
  ],
  [
    "a 64-character label",
    `${label("x", 64)}.example.com`,
    { error: /label "x{16}…" is longer than 63 characters/ },
  ],
  ["an empty label", "empty..example.com", { error: /^domain has an empty label$/ }],
  ["two trailing dots", "dots.example.com..", { error: /^domain has an empty label$/ }],
  [
    "a leading hyphen",
    "-lead.example.com",
    { error: /label "-lead" must be letters, digits and inner hyphens \(RFC 1123\)/ },
  ],
  [
    "a trailing hyphen",
    "trail-.example.com",
    { error: /label "trail-" must be letters, digits and inner hyphens/ },
  ],
  ["an underscore", "under_score.example.com", { error: /RFC 1123/ }],
  ["inner spaces", "my app.example.com", { error: /^domain must not contain whitespace$/ }],
  ["254 characters", name254, { error: /^domain is longer than 253 characters$/ }],
  ["a single label", "intranet", { error: /^domain must have at least two labels/ }],
  [
    "an all-digit top-level label",
    "numeric.example.123",
    { error: /^domain: top-level label must not be all digits$/ },
  ],
  ["a percent sign", "a%41.example.com", { error: /must not contain '%'/ }],
  ["an empty string", "", { error: /^domain is empty$/ }],
  [
    "the main domain",
    "hopgate.example.com",
    { error: /^domain: hopgate\.example\.com is the server's own main domain$/ },
  ],
  ["the main domain, spelled differently", " HOPGATE.example.COM. ", { error: /server's own main domain/ }],
  ["a number instead of a string", 42, { error: /^domain must be a string$/ }],
  ["no domain at all", undefined, { error: /^domain is required$/ }],
];

for (const backend of storeBackends) {
  describe(`domain validation of the admin API on ${backend.name}`, { skip: backend.skip }, () => {
    const cleanup = suiteCleanup();
    let call: ReturnType<typeof adminCaller>;
    before(async () => {
      const database = await openTestDatabase(cleanup, await backend.location(cleanup));
      const domains = createDomainRepository(database);
      const api = createAdminApi({
        domains,
        adminApiKey: ADMIN_KEY,
        mainDomain: MAIN_DOMAIN,
        logger: silentLogger(),
      });
      call = adminCaller(await startPlainAdminListener(api, cleanup), ADMIN_KEY);
    });

    it(`has a table of at least 15 cases (${CASES.length})`, () => assert.ok(CASES.length >= 15));

    for (const [what, input, expected] of CASES) {
      it(`${"ok" in expected ? "accepts" : "rejects"} ${what}`, async () => {
        const response = await call("POST", "/domains/register", { domain: input, memo: what });
        const body = response.json<{ domain?: string; error?: { code: string; message: string } }>();
        if ("ok" in expected) {
          assert.equal(response.status, 200, response.text);
          assert.equal(body.domain, expected.ok);
          const status = await call("GET", `/domains/exists?domain=${encodeURIComponent(String(input))}`);
          assert.deepEqual(status.json(), { success: true, exists: true }, "found again by its raw spelling");
        } else {
          assert.equal(response.status, 400, response.text);
          assert.equal(body.error?.code, "invalid_input");
          assert.match(body.error?.message ?? "", expected.error);
        }
      });
    }
  });
}
