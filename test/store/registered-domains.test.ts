import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { silentLogger } from "../../src/lib/logger.js";
import { RegisteredDomains, type StoredDomain } from "../../src/server/registered-domains.js";
import type { DomainChange } from "../../src/server/store/domain-repository.js";

const stored = (...names: string[]): StoredDomain[] => names.map((domain) => ({ domain, keyDigest: "k1" }));

describe("RegisteredDomains", () => {
  it("keeps a registration and a removal made while a reload was reading the store", async () => {
    const domains = new RegisteredDomains();
    domains.replaceAll(stored("old.example.com"));
    // The reload reads the store before this server's own changes commit...
    const stale = Promise.withResolvers<StoredDomain[]>();
    const reload = domains.refresh(() => stale.promise, silentLogger());
    domains.add("new.example.com");
    domains.delete("old.example.com");
    // ...and returns what it read: applying it would undo both changes until the next reload.
    stale.resolve(stored("old.example.com"));
    await reload;
    assert.equal(domains.has("new.example.com"), true, "the new domain is routed at once");
    assert.equal(domains.has("old.example.com"), false, "the removed domain stays removed");
  });

  it("applies a reload that raced nothing, and keeps the set when the store fails", async () => {
    const domains = new RegisteredDomains();
    domains.replaceAll(stored("a.example.com"));
    await domains.refresh(() => Promise.resolve(stored("b.example.com")), silentLogger());
    assert.deepEqual([domains.has("a.example.com"), domains.has("b.example.com")], [false, true]);
    await domains.refresh(() => Promise.reject(new Error("store down")), silentLogger());
    assert.equal(domains.has("b.example.com"), true);
  });

  it("reports what a reload found changed elsewhere, and nothing for this server's own changes", async () => {
    const seen: DomainChange[] = [];
    const domains = new RegisteredDomains({ onChanged: (change) => seen.push(change) });
    domains.replaceAll(
      stored("kept.example.com", "gone.example.com", "rotated.example.com", "mine.example.com"),
    );
    domains.add("own.example.com"); // registered here: its digest is learnt silently
    domains.add("mine.example.com"); // rotated here: likewise
    await domains.refresh(
      () =>
        Promise.resolve([
          ...stored("kept.example.com", "new.example.com", "own.example.com"),
          { domain: "rotated.example.com", keyDigest: "k2" },
          { domain: "mine.example.com", keyDigest: "k2" },
        ]),
      silentLogger(),
    );
    assert.deepEqual(seen.map((c) => `${c.type} ${c.domain}`).sort(), [
      "key_rotated rotated.example.com",
      "registered new.example.com",
      "unregistered gone.example.com",
    ]);
  });

  it("reports the removal of a domain a tunnel confirmed before any reload brought it", async () => {
    const seen: DomainChange[] = [];
    const domains = new RegisteredDomains({ onChanged: (change) => seen.push(change) });
    domains.replaceAll(stored("known.example.com"));
    domains.confirm("unseen.example.com"); // a tunnel authenticated against the store
    const read = Promise.withResolvers<StoredDomain[]>();
    const reload = domains.refresh(() => read.promise, silentLogger());
    domains.confirm("known.example.com"); // known already: the reload in flight is not dropped
    read.resolve(stored("known.example.com"));
    await reload;
    assert.deepEqual(seen, [{ type: "unregistered", domain: "unseen.example.com" }]);
  });
});
