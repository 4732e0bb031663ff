import assert from "node:assert/strict";
import { request } from "node:http";
import { describe, it, type TestContext } from "node:test";
import fc from "fast-check";
import { silentLogger } from "../../src/lib/logger.js";
import {
  createChallengeTokens,
  type ChallengeTokens,
  type SharedChallengeStore,
} from "../../src/server/certs/acme/challenge-tokens.js";
import { createKyselyChallengeStore } from "../../src/server/certs/acme/kysely-challenge-store.js";
import { createHttpListener } from "../../src/server/http/http-listener.js";
import { openTestDatabase, storeBackends, type StoreLocation } from "../helpers/store-backends.js";

const TOKEN = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA";
const KEY_AUTHORIZATION = `${TOKEN}.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI`;
const READ_INTERVAL_MS = 250;

/** The store of one server, counting its reads of the pending table. */
async function sharedStore(t: TestContext, location: StoreLocation) {
  const store = createKyselyChallengeStore(await openTestDatabase((fn) => t.after(fn), location));
  const counted: SharedChallengeStore & { reads: number } = {
    reads: 0,
    put: (...args) => store.put(...args),
    remove: (token) => store.remove(token),
    pending(nowMs) {
      counted.reads += 1;
      return store.pending(nowMs);
    },
  };
  return counted;
}

/** A server's port-80 listener answering from its own tokens and the store. */
async function listenerOf(t: TestContext, tokens: ChallengeTokens): Promise<number> {
  const listener = createHttpListener({ httpsPort: 443, challenges: tokens, logger: silentLogger() });
  const port = await listener.listen({ host: "127.0.0.1", port: 0 });
  t.after(() => listener.close());
  return port;
}

function get(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: "127.0.0.1", port, path, agent: false, headers: { host: "x.test" } },
      (res) => {
        let body = "";
        res.setEncoding("utf8").on("data", (chunk: string) => (body += chunk));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on("error", reject);
    req.end();
  });
}

const challengePath = (token: string) => `/.well-known/acme-challenge/${token}`;
const wellFormedToken = fc.stringMatching(/^[A-Za-z0-9_-]{22,128}$/);
/** Anything after the prefix that is not a token the store could hold, percent-encoded as needed. */
const malformedToken = fc
  .string({ maxLength: 300 })
  .filter((raw) => !/^[A-Za-z0-9_-]{22,128}$/.test(encodeURIComponent(raw).split("?", 1)[0] ?? ""))
  .map((raw) => encodeURIComponent(raw));

for (const backend of storeBackends) {
  describe(`HTTP-01 tokens shared through the ${backend.name} store`, { skip: backend.skip }, () => {
    it("a token set by one server is answered by another, until deleted or expired", async (t) => {
      const location = await backend.location((fn) => t.after(fn));
      const ordering = createChallengeTokens({ shared: await sharedStore(t, location) });
      const other = createChallengeTokens({ shared: await sharedStore(t, location) });
      const port = await listenerOf(t, other);

      assert.equal((await get(port, challengePath(TOKEN))).status, 404);
      await ordering.set(TOKEN, KEY_AUTHORIZATION);
      assert.deepEqual(await get(port, challengePath(TOKEN)), { status: 200, body: KEY_AUTHORIZATION });
      await ordering.delete(TOKEN);
      assert.equal((await get(port, challengePath(TOKEN))).status, 404);

      const shortLived = createChallengeTokens({ shared: await sharedStore(t, location), ttlMs: 1 });
      await shortLived.set(TOKEN, KEY_AUTHORIZATION);
      await new Promise((resolve) => setTimeout(resolve, 20));
      assert.equal((await get(port, challengePath(TOKEN))).status, 404, "an expired row is not answered");
    });

    it("malformed tokens never reach the store, and a flood of well-formed unknown ones costs one read per interval while the CA's token is still answered", async (t) => {
      const location = await backend.location((fn) => t.after(fn));
      const ordering = createChallengeTokens({ shared: await sharedStore(t, location) });
      const store = await sharedStore(t, location);
      const port = await listenerOf(
        t,
        createChallengeTokens({ shared: store, readIntervalMs: READ_INTERVAL_MS }),
      );
      await ordering.set(TOKEN, KEY_AUTHORIZATION);

      await fc.assert(
        fc.asyncProperty(fc.array(malformedToken, { minLength: 1, maxLength: 20 }), async (tokens) => {
          const before = store.reads;
          for (const token of tokens) {
            const answer = await get(port, challengePath(token));
            assert.ok(answer.status === 404 || answer.status === 400, `${token}: ${answer.status}`);
          }
          assert.equal(store.reads, before, "no store read for a malformed token");
        }),
        { numRuns: 25 },
      );

      const flood = fc.sample(
        wellFormedToken.filter((token) => token !== TOKEN),
        300,
      );
      const before = store.reads;
      const startedMs = Date.now();
      const answers = await Promise.all([
        ...flood.slice(0, 150).map((token) => get(port, challengePath(token))),
        get(port, challengePath(TOKEN)),
        ...flood.slice(150).map((token) => get(port, challengePath(token))),
      ]);
      const elapsedMs = Date.now() - startedMs;
      const reads = store.reads - before;
      t.diagnostic(`${flood.length + 1} lookups, ${reads} store reads in ${elapsedMs} ms`);
      assert.deepEqual(answers[150], { status: 200, body: KEY_AUTHORIZATION }, "the CA's token is answered");
      assert.ok(answers.every((answer, i) => i === 150 || answer.status === 404));
      assert.ok(
        reads <= Math.ceil(elapsedMs / READ_INTERVAL_MS) + 1,
        `${reads} reads in ${elapsedMs} ms: more than one per ${READ_INTERVAL_MS} ms`,
      );
    });
  });
}
