import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { silentLogger } from "../../src/lib/logger.js";
import { createAdminApi } from "../../src/server/admin/admin-api.js";
import type { CertificateDirectory } from "../../src/server/admin/domain-routes.js";
import type { CertificateStatus } from "../../src/server/certs/acme/managed-domain.js";
import { createAccessRepository } from "../../src/server/store/access-repository.js";
import { createDomainRepository, type DomainRepository } from "../../src/server/store/domain-repository.js";
import type { SessionDirectory } from "../../src/server/tunnel/session-directory.js";
import {
  startPlainAdminListener,
  startTlsAdminListener,
  type AdminListener,
} from "../helpers/admin-server.js";
import { cleanEnv, runCli } from "../helpers/run-cli.js";
import { openTestDatabase, storeBackends, suiteCleanup } from "../helpers/store-backends.js";
import { tempDir } from "../helpers/temp-dir.js";

const ADMIN_KEY = "cli-admin-key-0123456789ab";
const HEX64 = /[0-9a-f]{64}/;

const sessions: SessionDirectory = {
  list: () => [
    {
      id: "sess-1",
      domain: "cli.example.com",
      remoteAddress: "198.51.100.4:4000",
      protocolVersion: 1,
      services: [{ name: "web", pathPrefix: "/" }],
      connectedAt: "2026-01-01T00:00:00.000Z",
      state: "active",
      inFlightStreams: 0,
      bytesToClient: 0,
      bytesFromClient: 0,
    },
  ],
  closeDomain: () => 0,
};

const NEXT_RETRY_AT = "2026-01-01T01:00:00.000Z";
const failedCertificate: CertificateStatus = {
  state: "failed",
  reason: "connection refused",
  nextRetryMs: Date.parse(NEXT_RETRY_AT),
};

/** The ACME manager as the admin API sees it: cert.example.com failed, limited.example.com too, at its limit. */
const certificates: CertificateDirectory = {
  currentStatus: (domain) =>
    Promise.resolve(domain.endsWith("cert.example.com") ? failedCertificate : undefined),
  retryNow: (domain) =>
    Promise.resolve(
      domain === "cert.example.com"
        ? { decision: { t: "order" }, status: failedCertificate }
        : domain === "limited-cert.example.com"
          ? {
              decision: { t: "limited", retryAtMs: failedCertificate.nextRetryMs },
              status: failedCertificate,
            }
          : undefined,
    ),
};

describe("hopgate admin", () => {
  const cleanup = suiteCleanup();
  let plain: AdminListener;
  let tls: AdminListener;
  let domains: DomainRepository;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    const database = await openTestDatabase(cleanup, await storeBackends[0]!.location(cleanup));
    domains = createDomainRepository(database);
    const api = createAdminApi({
      domains,
      access: createAccessRepository(database),
      adminApiKey: ADMIN_KEY,
      mainDomain: "localhost",
      sessions,
      certificates,
      logger: silentLogger(),
    });
    plain = await startPlainAdminListener(api, cleanup);
    tls = await startTlsAdminListener(api, cleanup);
    env = cleanEnv({ HOP_ADMIN_URL: new URL(plain.url).origin, HOP_ADMIN_API_KEY: ADMIN_KEY });
  });

  const admin = (args: string[], options: { env?: NodeJS.ProcessEnv } = {}) =>
    runCli(["admin", ...args], { env: options.env ?? env, timeoutMs: 60_000 });

  it("registers a domain and prints the key once, readably", async () => {
    const result = await admin(["domains", "register", "CLI.example.com", "--memo", "from the CLI"]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^Registered cli\.example\.com\.$/m);
    const key = HEX64.exec(result.stdout)?.[0];
    assert.ok(key && (await domains.authenticate("cli.example.com", key)), "the printed key works");
  });

  it("prints the server's JSON with --json", async () => {
    const result = await admin(["domains", "register", "json.example.com", "--json"]);
    assert.equal(result.code, 0, result.stderr);
    const body = JSON.parse(result.stdout) as { success: boolean; domain: string; client_api_key: string };
    assert.equal(body.success, true);
    assert.equal(body.domain, "json.example.com");
    assert.match(body.client_api_key, /^[0-9a-f]{64}$/);
  });

  it("exits non-zero with the server's message when the server refuses", async () => {
    await domains.register("taken.example.com", "");
    const [duplicate, invalid, wrongKey] = await Promise.all([
      admin(["domains", "register", "taken.example.com"]),
      admin(["domains", "register", "*.*.example.com", "--json"]),
      admin(["domains", "list", "--admin-api-key", "not-the-key-0123456789"]),
    ]);
    assert.equal(duplicate.code, 1);
    assert.match(duplicate.stderr, /409 \(conflict\): domain taken\.example\.com is already registered/);
    assert.equal(invalid.code, 1);
    assert.equal((JSON.parse(invalid.stdout) as { error: { code: string } }).error.code, "invalid_input");
    assert.equal(wrongKey.code, 1);
    assert.match(wrongKey.stderr, /401 \(unauthenticated\): invalid admin API key/);
  });

  it("lists, shows status, rotates, unregisters and revokes", async () => {
    await domains.register("list-a.example.com", "first");
    await domains.register("list-b.example.com", "second");
    const [list, status, unknown] = await Promise.all([
      admin(["domains", "list", "--limit", "1", "--after", "list-"]),
      admin(["domains", "status", "cli.example.com"]),
      admin(["domains", "status", "unknown.example.com"]),
    ]);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^DOMAIN\s+CREATED\s+MEMO$/m);
    assert.match(list.stdout, /^list-a\.example\.com\s+\S+Z\s+first$/m);
    assert.match(list.stdout, /More: --after list-a\.example\.com/);

    assert.match(
      status.stdout,
      /cli\.example\.com is registered\.[\s\S]*live sessions: 1[\s\S]*sess-1 from 198\.51\.100\.4:4000/,
    );
    assert.deepEqual([unknown.code, unknown.stdout.trim()], [0, "unknown.example.com is not registered."]);

    const rotated = await admin(["domains", "rotate-key", "list-a.example.com"]);
    const newKey = HEX64.exec(rotated.stdout)?.[0] ?? "";
    assert.ok(await domains.authenticate("list-a.example.com", newKey));
    const unregistered = await admin([
      "domains",
      "unregister",
      "list-a.example.com",
      "--client-api-key",
      newKey,
    ]);
    assert.equal(unregistered.code, 0, unregistered.stderr);
    assert.equal(await domains.find("list-a.example.com"), undefined);

    const revoked = await admin(["domains", "revoke", "list-b.example.com"]);
    assert.deepEqual([revoked.code, revoked.stdout.trim()], [0, "Revoked list-b.example.com."]);
    const again = await admin(["domains", "revoke", "list-b.example.com"]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /404 \(not_found\)/);
  });

  it("shows, sets from a file and clears a domain's access policy", async (t) => {
    await domains.register("access.example.com", "");
    const dir = await tempDir(t);
    const file = join(dir, "policy.json");
    await writeFile(
      file,
      JSON.stringify({
        basic_auth: [{ username: "alice", password: "correct horse" }],
        allow: ["10.0.0.0/8"],
        rate_limit_per_second: 5,
      }),
    );
    const set = await admin(["domains", "access", "access.example.com", "--set", file]);
    assert.equal(set.code, 0, set.stderr);
    assert.match(set.stdout, /basic auth users: alice\n\s+allow: 10\.0\.0\.0\/8\n\s+deny: \(none\)/);
    assert.match(set.stdout, /rate limit: 5 requests\/s/);
    assert.ok(!set.stdout.includes("correct horse"));
    const shown = await admin(["domains", "access", "access.example.com", "--json"]);
    assert.deepEqual((JSON.parse(shown.stdout) as { access: { basic_auth: unknown } }).access.basic_auth, [
      { username: "alice" },
    ]);
    assert.match(set.stdout, /forward auth: \(none\)/);

    await writeFile(
      file,
      JSON.stringify({
        forward_auth: {
          url: "https://sso.example.com/oauth2/auth?token=sso-query-token-4c1d&rd=%2F",
          copy_headers: ["X-Auth-Request-User"],
          allow_ambiguous_paths: ["encoded_slash", "semicolon"],
        },
      }),
    );
    const forward = await admin(["domains", "access", "access.example.com", "--set", file]);
    assert.equal(forward.code, 0, forward.stderr);
    assert.match(
      forward.stdout,
      /forward auth: https:\/\/sso\.example\.com\/oauth2\/auth\?token=\*\*\*&rd=\*\*\* \(timeout 5000 ms\)\n\s+copied headers: x-auth-request-user\n\s+ambiguous paths let through: encoded_slash, semicolon/,
    );
    const forwardJson = await admin(["domains", "access", "access.example.com", "--json"]);
    for (const output of [forward.stdout, forward.stderr, forwardJson.stdout])
      assert.ok(!output.includes("sso-query-token-4c1d"), output);
    await writeFile(
      file,
      JSON.stringify({ forward_auth: { url: "https://sso.example.com/", allow_ambiguous_paths: ["%2F"] } }),
    );
    const unknownForm = await admin(["domains", "access", "access.example.com", "--set", file]);
    assert.equal(unknownForm.code, 1);
    assert.match(unknownForm.stderr, /"%2F" is not a path form: one of encoded_slash/);
    await writeFile(file, JSON.stringify({ forward_auth: { url: "https://sso.example.com/" } }));
    const refusing = await admin(["domains", "access", "access.example.com", "--set", file]);
    assert.match(refusing.stdout, /ambiguous paths let through: \(none: refused with 400\)/);

    const cleared = await admin(["domains", "access", "access.example.com", "--clear"]);
    assert.equal(cleared.code, 0, cleared.stderr);
    const none = await admin(["domains", "access", "access.example.com"]);
    assert.equal(none.stdout.trim(), "access.example.com has no access policy: every visitor gets in.");

    await writeFile(file, "{not json");
    const [broken, both, invalid] = await Promise.all([
      admin(["domains", "access", "access.example.com", "--set", file]),
      admin(["domains", "access", "access.example.com", "--set", file, "--clear"]),
      admin(["domains", "access", "access.example.com", "--set", join(dir, "missing.json")]),
    ]);
    assert.equal(broken.code, 1);
    assert.match(broken.stderr, /policy\.json is not JSON/);
    // V8's message quotes the text around the bad token: a password must not reach the terminal.
    await writeFile(file, '{"basic_auth":[{"username":"alice","password": correct-horse-battery}]}');
    const unquoted = await admin(["domains", "access", "access.example.com", "--set", file]);
    assert.equal(unquoted.code, 1);
    assert.match(unquoted.stderr, /policy\.json is not JSON: Unexpected token 'c'\n/);
    assert.ok(!unquoted.stderr.includes("correct-ho"), unquoted.stderr);
    assert.equal(both.code, 1);
    assert.match(both.stderr, /either --set or --clear, not both/);
    assert.equal(invalid.code, 1);
    assert.match(invalid.stderr, /cannot read .*missing\.json/);
  });

  it("sets, shows and clears the access policy of a wildcard base domain given as '*.base'", async (t) => {
    await domains.register("*.wild.example.com", "");
    const dir = await tempDir(t);
    const file = join(dir, "policy.json");
    await writeFile(file, JSON.stringify({ deny: ["192.0.2.0/24"] }));
    // As `hopgate admin domains access '*.wild.example.com' --set policy.json` passes it.
    const set = await admin(["domains", "access", "*.wild.example.com", "--set", file]);
    assert.equal(set.code, 0, set.stderr);
    assert.match(set.stdout, /deny: 192\.0\.2\.0\/24/);
    const shown = await admin(["domains", "access", "*.WILD.example.com.", "--json"]);
    assert.equal(shown.code, 0, shown.stderr);
    const body = JSON.parse(shown.stdout) as { domain: string; access: { deny: string[] } };
    assert.equal(body.domain, "*.wild.example.com");
    assert.deepEqual(body.access.deny, ["192.0.2.0/24"]);
    const cleared = await admin(["domains", "access", "*.wild.example.com", "--clear"]);
    assert.equal(cleared.code, 0, cleared.stderr);
    const none = await admin(["domains", "access", "*.wild.example.com"]);
    assert.match(none.stdout, /has no access policy: every visitor gets in/);
  });

  it("shows a domain's certificate and retries it with --retry, with the server's refusals", async () => {
    await domains.register("cert.example.com", "");
    await domains.register("limited-cert.example.com", "");
    const [shown, retried, limited, plain, unknown] = await Promise.all([
      admin(["domains", "certificate", "cert.example.com"]),
      admin(["domains", "certificate", "cert.example.com", "--retry"]),
      admin(["domains", "certificate", "limited-cert.example.com", "--retry"]),
      admin(["domains", "certificate", "cli.example.com", "--retry"]),
      admin(["domains", "certificate", "nobody.example.com", "--retry"]),
    ]);
    assert.equal(shown.code, 0, shown.stderr);
    assert.equal(
      shown.stdout.trim(),
      [
        "Certificate of cert.example.com:",
        "  state: failed",
        "  last failure: connection refused",
        `  next retry: ${NEXT_RETRY_AT}`,
      ].join("\n"),
    );
    assert.equal(retried.code, 0, retried.stderr);
    assert.match(retried.stdout, /^Ordering the certificate of cert\.example\.com now\.$/m);
    assert.equal(limited.code, 1);
    assert.match(
      limited.stderr,
      new RegExp(`429 \\(rate_limited\\): .*hour.*${NEXT_RETRY_AT.replaceAll(".", "\\.")}`),
    );
    assert.equal(plain.code, 1);
    assert.match(plain.stderr, /409 \(conflict\): no ACME certificate is managed for cli\.example\.com/);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /404 \(not_found\): nobody\.example\.com is not registered/);
  });

  it("lists live sessions", async () => {
    const result = await admin(["sessions", "--json"]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(
      (JSON.parse(result.stdout) as { sessions: Array<{ id: string }> }).sessions[0]?.id,
      "sess-1",
    );
  });

  it("talks to a TLS server with --ca-file or --insecure, and refuses an untrusted one", async (t) => {
    const caFile = join(await tempDir(t), "ca.pem");
    await writeFile(caFile, tls.ca ?? "");
    const tlsEnv = cleanEnv({ HOP_ADMIN_URL: tls.url, HOP_ADMIN_API_KEY: ADMIN_KEY });
    const [trusted, insecure, untrusted] = await Promise.all([
      admin(["domains", "status", "cli.example.com", "--ca-file", caFile], { env: tlsEnv }),
      admin(["--insecure", "domains", "status", "cli.example.com"], { env: tlsEnv }),
      admin(["domains", "status", "cli.example.com"], { env: tlsEnv }),
    ]);
    assert.equal(trusted.code, 0, trusted.stderr);
    assert.equal(insecure.code, 0, insecure.stderr);
    assert.equal(untrusted.code, 1);
    assert.match(untrusted.stderr, /cannot reach https:\/\/127\.0\.0\.1:\d+: .*--ca-file/);
  });

  it("exits 2 naming the setting when the server URL is missing or wrong", async () => {
    const [missing, wrong] = await Promise.all([
      admin(["domains", "list"], { env: cleanEnv({ HOP_ADMIN_API_KEY: ADMIN_KEY }) }),
      admin(["domains", "list", "--server-url", "ftp://x"], { env }),
    ]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /HOP_ADMIN_URL/);
    assert.equal(wrong.code, 2);
    assert.match(wrong.stderr, /--server-url="ftp:\/\/x" is invalid \(not http or https\)/);
  });
});
