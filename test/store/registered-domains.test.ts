import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { silentLogger } from "../../src/lib/logger.js";
import { RegisteredDomains } from "../../src/server/registered-domains.js";

describe("RegisteredDomains", () => {
  it("keeps a registration and a removal made while a reload was reading the store", async () => {
    const domains = new RegisteredDomains();
    domains.replaceAll(["old.example.com"]);
    // The reload reads the store before this server's own changes commit...
    const stale = Promise.withResolvers<string[]>();
    const reload = domains.refresh(() => stale.promise, silentLogger());
    domains.add("new.example.com");
    domains.delete("old.example.com");
    // ...and returns what it read: applying it would undo both changes until the next reload.
    stale.resolve(["old.example.com"]);
    await reload;
    assert.equal(domains.has("new.example.com"), true, "the new domain is routed at once");
    assert.equal(domains.has("old.example.com"), false, "the removed domain stays removed");
  });

  it("applies a reload that raced nothing, and keeps the set when the store fails", async () => {
    const domains = new RegisteredDomains();
    domains.replaceAll(["a.example.com"]);
    await domains.refresh(() => Promise.resolve(["b.example.com"]), silentLogger());
    assert.deepEqual([domains.has("a.example.com"), domains.has("b.example.com")], [false, true]);
    await domains.refresh(() => Promise.reject(new Error("store down")), silentLogger());
    assert.equal(domains.has("b.example.com"), true);
  });
});
