import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { accessPolicyInput, toPublicPolicy, toStoredPolicy } from "../../src/server/access/access-policy.js";
import {
  parseStoredPolicy,
  type PolicyEntry,
  type StoredAccessPolicy,
} from "../../src/server/access/stored-policy.js";
import type { AmbiguousPathForm } from "../../src/protocol/ambiguous-path.js";
import type { VisitorRequest } from "../../src/server/proxy/visitor.js";
import { silentLogger } from "../../src/lib/logger.js";
import { AccessPolicies } from "../../src/server/access/access-policies.js";
import { parseBasicCredentials } from "../../src/server/access/basic-credentials.js";
import { compilePolicy } from "../../src/server/access/compiled-policy.js";
import { decide, type AccessDecision, type PasswordCheck } from "../../src/server/access/decide.js";
import type { ForwardAuthOutcome } from "../../src/server/access/forward-auth.js";
import { HashWorkQueue } from "../../src/server/access/hash-work-queue.js";
import { hashPassword, verifyPassword } from "../../src/server/access/password-hash.js";
import { AuthFailureLimiter } from "../../src/server/limits/auth-failure-limiter.js";

const basic = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;

interface Case {
  readonly name: string;
  readonly address?: string;
  readonly headers?: Array<[string, string]>;
  /** "allow" or "<status> <reason>". */
  readonly expect: string;
}

async function setup(
  policy: Partial<StoredAccessPolicy>,
  options: { maxFailures?: number; now?: () => number } = {},
) {
  const failures = new AuthFailureLimiter({
    maxFailures: options.maxFailures ?? 100,
    windowMs: 60_000,
    blockMs: 60_000,
    now: options.now,
  });
  let hashes = 0;
  const check: PasswordCheck = {
    failures,
    decoyHash: await hashPassword("decoy", 10),
    verify: (password, hash) => {
      hashes += 1;
      return verifyPassword(password, hash);
    },
  };
  const compiled = compilePolicy({ basic_auth: [], allow: [], deny: [], ...policy }, options.now);
  const run = async (address: string | undefined, headers: Array<[string, string]> = []) =>
    decide(
      compiled,
      {
        domain: "app.example.com",
        remoteAddress: address,
        headerValues: (name) => headers.filter(([n]) => n === name).map(([, v]) => v),
      },
      check,
    );
  return { run, hashes: () => hashes, failures };
}

const outcome = (decision: AccessDecision) =>
  decision.ok ? "allow" : `${decision.status} ${decision.reason}`;

describe("decide: IP lists on the peer address", () => {
  const cases: Case[] = [
    { name: "a denied IPv4 peer", address: "10.1.2.3", expect: "403 ip_denied" },
    { name: "the same peer as IPv4-mapped IPv6", address: "::ffff:10.1.2.3", expect: "403 ip_denied" },
    { name: "a denied IPv6 peer in the /64", address: "2001:db8:0:1::5", expect: "403 ip_denied" },
    { name: "an allowed IPv4 peer", address: "192.168.7.7", expect: "allow" },
    { name: "an allowed IPv6 peer", address: "2001:db8:0:2::1", expect: "allow" },
    { name: "a peer outside the allow list", address: "172.16.0.1", expect: "403 ip_not_allowed" },
    { name: "an IPv6 loopback outside the allow list", address: "::1", expect: "403 ip_not_allowed" },
    { name: "a socket that lost its address", address: undefined, expect: "403 ip_denied" },
    {
      name: "a forwarded header naming an allowed address",
      address: "172.16.0.1",
      headers: [
        ["x-forwarded-for", "192.168.0.1"],
        ["forwarded", "for=192.168.0.1"],
      ],
      expect: "403 ip_not_allowed",
    },
  ];
  for (const c of cases) {
    it(`refuses or admits ${c.name}`, async () => {
      const { run } = await setup({
        deny: ["10.0.0.0/8", "2001:db8:0:1::/64"],
        allow: ["192.168.0.0/16", "10.0.0.0/8", "2001:db8::/32"],
      });
      assert.equal(outcome(await run(c.address, c.headers)), c.expect);
    });
  }
});

describe("decide: secret header", () => {
  const secret = "s3cret-token-of-32-characters-xx";
  const cases: Array<[string, Array<[string, string]>, string]> = [
    ["the right value", [["x-token", secret]], "allow"],
    ["no header", [], "403 secret_header"],
    ["a wrong value", [["x-token", "nope"]], "403 secret_header"],
    ["a prefix of the value", [["x-token", secret.slice(0, -1)]], "403 secret_header"],
    [
      "the right value twice",
      [
        ["x-token", secret],
        ["x-token", secret],
      ],
      "403 secret_header",
    ],
    [
      "a wrong value next to the right one",
      [
        ["x-token", "nope"],
        ["x-token", secret],
      ],
      "403 secret_header",
    ],
  ];
  for (const [name, headers, expected] of cases) {
    it(`${expected === "allow" ? "admits" : "refuses"} ${name}`, async () => {
      const stored = await toStoredPolicy(
        accessPolicyInput.parse({ secret_header: { name: "X-Token", value: secret } }),
      );
      const { run } = await setup(stored);
      assert.equal(outcome(await run("127.0.0.1", headers)), expected);
    });
  }
});

describe("decide: basic auth", () => {
  const users = async () => [{ username: "alice", hash: await hashPassword("correct horse", 10) }];
  const cases: Array<[string, string[], string]> = [
    ["the right password", [basic("alice", "correct horse")], "allow"],
    ["a lowercase scheme", [basic("alice", "correct horse").replace("Basic", "bAsIc")], "allow"],
    ["no Authorization header", [], "401 basic_auth"],
    ["a wrong password", [basic("alice", "wrong")], "401 basic_auth"],
    ["an unknown user", [basic("mallory", "correct horse")], "401 basic_auth"],
    ["a Bearer token", ["Bearer abc"], "401 basic_auth"],
    ["bad base64", ["Basic !!!!"], "401 basic_auth"],
    [
      "two Authorization lines, the first right",
      [basic("alice", "correct horse"), basic("bob", "x")],
      "401 basic_auth",
    ],
  ];
  for (const [name, lines, expected] of cases) {
    it(`${expected === "allow" ? "admits" : "refuses"} ${name}`, async () => {
      const { run } = await setup({ basic_auth: await users() });
      const decision = await run(
        "127.0.0.1",
        lines.map((line) => ["authorization", line]),
      );
      assert.equal(outcome(decision), expected);
      if (!decision.ok)
        assert.equal(decision.headers["www-authenticate"], 'Basic realm="app.example.com", charset="UTF-8"');
    });
  }

  it("hashes once per credentials and caches only successes", async () => {
    const { run, hashes } = await setup({ basic_auth: await users() });
    for (let i = 0; i < 5; i += 1)
      assert.equal(
        outcome(await run("127.0.0.1", [["authorization", basic("alice", "correct horse")]])),
        "allow",
      );
    assert.equal(hashes(), 1);
    for (let i = 0; i < 3; i += 1) await run("127.0.0.1", [["authorization", basic("alice", "nope")]]);
    assert.equal(hashes(), 4, "failures are hashed every time (and counted)");
  });

  it("blocks an address after repeated failures with 429 and Retry-After, before any hashing, IPv6 by /64", async () => {
    const { run, hashes } = await setup({ basic_auth: await users() }, { maxFailures: 3 });
    for (let i = 0; i < 3; i += 1) await run("2001:db8::1", [["authorization", basic("alice", `guess${i}`)]]);
    const before = hashes();
    const blocked = await run("2001:db8::2", [["authorization", basic("alice", "correct horse")]]);
    assert.equal(outcome(blocked), "429 auth_blocked");
    assert.equal(!blocked.ok && blocked.headers["retry-after"], "60");
    assert.equal(hashes(), before, "a blocked address causes no hashing");
    assert.equal(
      outcome(await run("2001:db9::1", [["authorization", basic("alice", "correct horse")]])),
      "allow",
    );
  });

  it("does not count a missing header as a failure (a browser's first request)", async () => {
    const { run, failures } = await setup({ basic_auth: await users() }, { maxFailures: 1 });
    await run("127.0.0.1");
    assert.equal(failures.retryAfterMs("127.0.0.1"), 0);
  });

  it("answers 503 with Retry-After when the hashing queue is full", async () => {
    const full: PasswordCheck = {
      failures: new AuthFailureLimiter({ maxFailures: 0, windowMs: 1, blockMs: 1 }),
      decoyHash: "",
      verify: () => undefined,
    };
    const compiled = compilePolicy({ basic_auth: await users(), allow: [], deny: [] });
    const decision = await decide(
      compiled,
      { domain: "d", remoteAddress: "127.0.0.1", headerValues: () => [basic("alice", "x")] },
      full,
    );
    assert.equal(outcome(decision), "503 busy");
  });
});

describe("decide: order and rate", () => {
  it("refuses a denied address before looking at credentials or the rate", async () => {
    const { run, hashes } = await setup({
      deny: ["127.0.0.0/8"],
      basic_auth: [{ username: "a", hash: await hashPassword("password1", 10) }],
      rate_limit_per_second: 1,
    });
    assert.equal(
      outcome(await run("127.0.0.1", [["authorization", basic("a", "password1")]])),
      "403 ip_denied",
    );
    assert.equal(hashes(), 0);
  });

  it("limits the whole domain to its rate, with Retry-After", async () => {
    let nowMs = 0;
    const { run } = await setup({ rate_limit_per_second: 2 }, { now: () => nowMs });
    const results = [];
    for (let i = 0; i < 3; i += 1) results.push(outcome(await run(`10.0.0.${i}`)));
    assert.deepEqual(
      results,
      ["allow", "allow", "429 rate"],
      "different addresses share the domain's bucket",
    );
    nowMs += 500;
    assert.equal(outcome(await run("10.0.0.9")), "allow");
  });
});

describe("decide: forward auth", () => {
  const spec = { url: "http://auth.invalid/verify", copyHeaders: ["x-auth-user"], timeoutMs: 1000 };
  const compiled = (extra: Partial<StoredAccessPolicy> = {}) =>
    compilePolicy({
      basic_auth: [],
      allow: [],
      deny: [],
      forward_auth: { url: spec.url, copy_headers: ["X-Auth-User"], timeout_ms: 1000 },
      ...extra,
    });
  const visitor = {
    domain: "app.example.com",
    remoteAddress: "127.0.0.1",
    headerValues: () => [],
    forwardAuthRequest: () => ({
      method: "GET",
      uri: "/",
      host: "app.example.com",
      proto: "https" as const,
      forwardedFor: ["127.0.0.1"],
      rawHeaders: [],
    }),
  };
  const failures = new AuthFailureLimiter({ maxFailures: 0, windowMs: 1, blockMs: 1 });
  const withService = (outcome: ForwardAuthOutcome): PasswordCheck => ({
    failures,
    decoyHash: "",
    verify: () => undefined,
    forwardAuth: () => Promise.resolve(outcome),
  });

  it("admits on allow, stripping the visitor's copies of the copied headers", async () => {
    const decision = await decide(
      compiled(),
      visitor,
      withService({ t: "allow", copied: [["x-auth-user", "alice"]] }),
    );
    assert.deepEqual(decision, {
      ok: true,
      upstream: { strip: ["x-auth-user"], add: [["x-auth-user", "alice"]] },
    });
  });

  it("hands the service's refusal to the visitor as it is", async () => {
    const reply = {
      t: "deny" as const,
      status: 302,
      headers: { location: "/login" },
      body: Buffer.from("x"),
    };
    const decision = await decide(compiled(), visitor, withService(reply));
    assert.equal(outcome(decision), "302 forward_auth");
    assert.deepEqual(!decision.ok && decision.reply?.headers, { location: "/login" });
  });

  it("answers 503 when the service fails, and is not asked when an earlier rule refuses", async () => {
    assert.equal(
      outcome(await decide(compiled(), visitor, withService({ t: "failed", reason: "down" }))),
      "503 forward_auth_failed",
    );
    const throwing: PasswordCheck = {
      ...withService({ t: "allow", copied: [] }),
      forwardAuth: () => {
        throw new Error("a header the HTTP client refuses");
      },
    };
    assert.equal(outcome(await decide(compiled(), visitor, throwing)), "503 forward_auth_failed");
    let asked = 0;
    const counting: PasswordCheck = {
      ...withService({ t: "allow", copied: [] }),
      forwardAuth: () => {
        asked += 1;
        return Promise.resolve({ t: "allow", copied: [] });
      },
    };
    assert.equal(
      outcome(await decide(compiled({ deny: ["127.0.0.1"] }), visitor, counting)),
      "403 ip_denied",
    );
    assert.equal(asked, 0);
  });

  it("answers 400 without asking the service for a path a backend could read as another, and asks for its plain spellings", async () => {
    let asked = 0;
    const counting: PasswordCheck = {
      ...withService({ t: "allow", copied: [] }),
      forwardAuth: () => {
        asked += 1;
        return Promise.resolve({ t: "allow", copied: [] });
      },
    };
    const at = (uri: string) => ({
      ...visitor,
      forwardAuthRequest: () => ({ ...visitor.forwardAuthRequest(), uri }),
    });
    const cases: Array<[string, string]> = [
      ["/admin%2Fsecret", "400 ambiguous_path"],
      ["/admin%2fsecret", "400 ambiguous_path"],
      ["/admin%252Fsecret", "400 ambiguous_path"],
      ["/public/..%5Cadmin", "400 ambiguous_path"],
      ["/x/%252E%252E/admin", "400 ambiguous_path"],
      ["/admin;x/secret", "400 ambiguous_path"],
      ["/admin/secret?next=%2Fhome;x", "allow"],
      ["/a%20b", "allow"],
    ];
    for (const [uri, expected] of cases) {
      const before = asked;
      assert.equal(outcome(await decide(compiled(), at(uri), counting)), expected, uri);
      assert.equal(asked - before, expected === "allow" ? 1 : 0, uri);
    }
  });

  it("asks about the forms the policy allows, with the path as it is, and still refuses the others", async () => {
    const told: string[] = [];
    const telling: PasswordCheck = {
      ...withService({ t: "allow", copied: [] }),
      forwardAuth: (_spec, request) => {
        told.push(request.uri);
        return Promise.resolve({ t: "allow", copied: [] });
      },
    };
    const at = (uri: string) => ({
      ...visitor,
      forwardAuthRequest: () => ({ ...visitor.forwardAuthRequest(), uri }),
    });
    const allowing = (forms: AmbiguousPathForm[]) =>
      compiled({
        forward_auth: { url: spec.url, copy_headers: [], timeout_ms: 1000, allow_ambiguous_paths: forms },
      });
    const cases: Array<[AmbiguousPathForm[], string, string]> = [
      [["encoded_slash"], "/api/v4/projects/group%2Fproject", "allow"],
      [["encoded_slash"], "/api/v4/projects/group%2fproject?x=1", "allow"],
      [["encoded_slash"], "/admin%5Csecret", "400 ambiguous_path"],
      [["encoded_slash"], "/admin%252Fsecret", "400 ambiguous_path"],
      [["encoded_slash"], "/admin%2Fsecret;x", "400 ambiguous_path"],
      [["semicolon"], "/app;jsessionid=1/page;v=2", "allow"],
      [["semicolon"], "/app;x%2Fy", "400 ambiguous_path"],
      [["encoded_backslash"], "/a%5Cb", "allow"],
      [["encoded_backslash"], "/a%2Fb", "400 ambiguous_path"],
      [["double_encoded"], "/a%252Fb/%252E%252E/%25255C", "allow"],
      [["double_encoded"], "/a%2Fb", "400 ambiguous_path"],
      [["encoded_slash", "semicolon"], "/a%2Fb;c", "allow"],
      [["encoded_slash", "semicolon"], "/a%2Fb;c%255C", "400 ambiguous_path"],
      [[], "/a%2Fb", "400 ambiguous_path"],
    ];
    for (const [forms, uri, expected] of cases) {
      const before = told.length;
      assert.equal(
        outcome(await decide(allowing(forms), at(uri), telling)),
        expected,
        `${uri} ${forms.join()}`,
      );
      assert.deepEqual(told.slice(before), expected === "allow" ? [uri] : [], uri);
    }
  });

  it("reads a stored policy that allows a form this server does not know as invalid: nobody gets in", () => {
    const text = JSON.stringify({
      basic_auth: [],
      allow: [],
      deny: [],
      forward_auth: {
        url: spec.url,
        copy_headers: [],
        timeout_ms: 1000,
        allow_ambiguous_paths: ["everything"],
      },
    });
    assert.equal(parseStoredPolicy(text), "invalid");
    const known = JSON.parse(text.replace("everything", "semicolon")) as StoredAccessPolicy;
    assert.deepEqual(parseStoredPolicy(JSON.stringify(known)), known);
  });
});

describe("HashWorkQueue", () => {
  it("runs at most maxConcurrent at once, queues maxQueued, refuses the rest", async () => {
    const queue = new HashWorkQueue({ maxConcurrent: 2, maxQueued: 1 });
    const gates: Array<() => void> = [];
    const work = () => new Promise<void>((resolve) => gates.push(resolve));
    const accepted = [queue.run(work), queue.run(work), queue.run(work), queue.run(work)];
    assert.deepEqual(
      accepted.map((p) => p !== undefined),
      [true, true, true, false],
    );
    assert.equal(queue.running, 2);
    assert.equal(queue.queued, 1);
    await Promise.resolve();
    gates.shift()?.();
    await accepted[0];
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(queue.running, 2, "the waiter took the freed slot");
    assert.equal(queue.queued, 0);
    while (gates.length > 0) gates.shift()?.();
    await Promise.all(accepted.map((p) => p ?? Promise.resolve()));
    assert.equal(queue.running, 0);
  });
});

describe("access policy forms", () => {
  it("keeps no plaintext: the stored form holds scrypt hashes and a digest, the public one neither", async () => {
    const input = accessPolicyInput.parse({
      basic_auth: [{ username: "alice", password: "correct horse" }],
      allow: ["::ffff:10.0.0.0/104"],
      secret_header: { name: "X-Token", value: "0123456789abcdef0123" },
      rate_limit_per_second: 10,
    });
    const stored = await toStoredPolicy(input);
    const text = JSON.stringify(stored);
    assert.ok(!text.includes("correct horse") && !text.includes("0123456789abcdef0123"));
    assert.match(stored.basic_auth[0]?.hash ?? "", /^\$scrypt\$ln=15,r=8,p=1\$/);
    assert.equal(await verifyPassword("correct horse", stored.basic_auth[0]?.hash ?? ""), true);
    assert.deepEqual(toPublicPolicy(stored), {
      basic_auth: [{ username: "alice" }],
      allow: ["10.0.0.0/8"],
      deny: [],
      secret_header: { name: "x-token" },
      rate_limit_per_second: 10,
    });
  });

  const refused: Array<[string, unknown, RegExp]> = [
    ["a bad block", { allow: ["10.0.0.0/33"] }, /prefix length/],
    ["a colon in a username", { basic_auth: [{ username: "a:b", password: "password1" }] }, /colon/],
    ["a short password", { basic_auth: [{ username: "a", password: "short" }] }, /at least 8/],
    [
      "a repeated username",
      {
        basic_auth: [
          { username: "a", password: "password1" },
          { username: "a", password: "password2" },
        ],
      },
      /twice/,
    ],
    [
      "Host as the secret header",
      { secret_header: { name: "Host", value: "0123456789abcdef0" } },
      /gateway itself/,
    ],
    ["a short secret", { secret_header: { name: "x-token", value: "short" } }, /at least 16/],
    ["an unknown field", { alow: [] }, /unknown field alow/],
    ["a zero rate", { rate_limit_per_second: 0 }, /positive/],
  ];
  for (const [name, body, message] of refused) {
    it(`refuses ${name} with a clear message`, () => {
      const result = accessPolicyInput.safeParse(body);
      assert.equal(result.success, false);
      assert.match(result.error?.issues.map((issue) => issue.message).join("; ") ?? "", message);
    });
  }
});

describe("parseBasicCredentials", () => {
  it("splits at the first colon; the password may hold more", () => {
    assert.deepEqual(parseBasicCredentials(basic("a", "b:c")), { username: "a", password: "b:c" });
    assert.equal(parseBasicCredentials("Basic"), undefined);
    assert.equal(parseBasicCredentials(`Basic ${Buffer.from("nocolon").toString("base64")}`), undefined);
  });
});

describe("AccessPolicies", () => {
  const failures = new AuthFailureLimiter({ maxFailures: 0, windowMs: 1, blockMs: 1 });
  const request = (address: string) =>
    ({ socket: { remoteAddress: address }, rawHeaders: [] }) as unknown as VisitorRequest;
  const peer = (address: string) => ({ address, chain: [address] });
  const denyLoopback = { basic_auth: [], allow: [], deny: ["127.0.0.0/8"] };

  it("drops a reload that read the store before this server's own change", async () => {
    const policies = new AccessPolicies({ failures });
    let finishLoad!: (entries: Map<string, PolicyEntry>) => void;
    const stale = new Map<string, PolicyEntry>();
    const reload = policies.refresh(() => new Promise((resolve) => (finishLoad = resolve)), silentLogger());
    policies.set("app.example.com", denyLoopback); // committed while the reload's query ran
    finishLoad(stale);
    await reload;
    const decision = await policies.check("app.example.com", request("127.0.0.1"), peer("127.0.0.1"));
    assert.equal(decision.ok, false, "the change stays in force");

    await policies.refresh(() => Promise.resolve(stale), silentLogger());
    assert.equal(
      (await policies.check("app.example.com", request("127.0.0.1"), peer("127.0.0.1"))).ok,
      true,
      "a later reload applies",
    );
  });

  it("keeps the compiled policy (its rate bucket) across reloads that change nothing", async () => {
    const policies = new AccessPolicies({ failures });
    const limited = { basic_auth: [], allow: [], deny: [], rate_limit_per_second: 1 };
    policies.set("app.example.com", limited);
    assert.equal((await policies.check("app.example.com", request("127.0.0.1"), peer("127.0.0.1"))).ok, true);
    await policies.refresh(
      () => Promise.resolve(new Map([["app.example.com", { ...limited }]])),
      silentLogger(),
    );
    assert.equal(
      (await policies.check("app.example.com", request("127.0.0.1"), peer("127.0.0.1"))).ok,
      false,
      "the bucket is still empty",
    );
  });

  it("lets nobody in to a domain whose stored policy is invalid", async () => {
    const policies = new AccessPolicies({ failures });
    policies.set("app.example.com", "invalid");
    for (const address of ["127.0.0.1", "::1", "203.0.113.9"])
      assert.equal(
        (await policies.check("app.example.com", request(address), peer(address))).ok,
        false,
        address,
      );
    assert.equal(
      (await policies.check("other.example.com", request("127.0.0.1"), peer("127.0.0.1"))).ok,
      true,
    );
  });
});
