import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { addressKey } from "../../src/server/limits/address-key.js";

describe("addressKey", () => {
  it("counts IPv4 per address and IPv6 per /64", () => {
    const cases: Array<[string, string]> = [
      ["203.0.113.7", "203.0.113.7"],
      ["::ffff:203.0.113.7", "203.0.113.7"],
      ["::FFFF:203.0.113.7", "203.0.113.7"],
      ["2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"],
      ["2001:0db8:0001:0002:ffff::1", "2001:db8:1:2::/64"],
      ["2001:db8::1", "2001:db8:0:0::/64"],
      ["2001:db8:1:2::", "2001:db8:1:2::/64"],
      ["::1", "0:0:0:0::/64"],
      ["::", "0:0:0:0::/64"],
      ["fe80::1%eth0", "fe80:0:0:0::/64"],
      ["64:ff9b::198.51.100.1", "64:ff9b:0:0::/64"],
      ["1:2:3::4:5:6:7", "1:2:3:0::/64"],
      ["unknown", "unknown"],
      ["", "unknown"],
    ];
    for (const [address, key] of cases) assert.equal(addressKey(address), key, address);
  });

  it("gives two hosts of one /64 the same key and neighbouring /64s different ones", () => {
    assert.equal(addressKey("2001:db8:a:b::1"), addressKey("2001:db8:a:b:ffff:ffff:ffff:ffff"));
    assert.notEqual(addressKey("2001:db8:a:b::1"), addressKey("2001:db8:a:c::1"));
  });
});
