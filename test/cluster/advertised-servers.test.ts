import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  createAdvertisedServers,
  MAX_ADVERTISED_SERVERS,
} from "../../src/server/cluster/advertised-servers.js";

describe("AdvertisedServers (what a server tells its v2 clients)", () => {
  it("always lists this server, sorted and deduplicated, and tells listeners only of changes", () => {
    const list = createAdvertisedServers("b.example.test:443");
    const heard: string[][] = [];
    list.subscribe((servers) => heard.push([...servers]));
    assert.deepEqual(list.current(), ["b.example.test:443"]);
    list.update(["c.example.test:443", "a.example.test:443", "c.example.test:443"]);
    list.update(["a.example.test:443", "c.example.test:443", "b.example.test:443"]);
    list.update([]);
    assert.deepEqual(heard, [
      ["a.example.test:443", "b.example.test:443", "c.example.test:443"],
      ["b.example.test:443"],
    ]);
  });

  it("bounds the list and keeps this server in it", () => {
    const list = createAdvertisedServers("zz.example.test:443");
    list.update(Array.from({ length: 200 }, (_, i) => `s${String(i).padStart(3, "0")}.example.test:443`));
    assert.equal(list.current().length, MAX_ADVERTISED_SERVERS);
    assert.ok(list.current().includes("zz.example.test:443"));
  });

  it("on leave, tells its clients the list without itself, once, and ignores later heartbeats", () => {
    const list = createAdvertisedServers("a.example.test:443");
    list.update(["b.example.test:443"]);
    const heard: string[][] = [];
    const unsubscribe = list.subscribe((servers) => heard.push([...servers]));
    list.leave();
    list.leave();
    list.update(["b.example.test:443", "c.example.test:443"]);
    assert.deepEqual(heard, [["b.example.test:443"]]);
    unsubscribe();
  });
});
