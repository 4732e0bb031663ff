import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { domainStatusText } from "../../src/cli/admin-output.js";

const WILDCARD = {
  success: true,
  exists: true,
  domain: "*.apps.example.test",
  memo: "",
  created_at: "2026-12-07T00:00:00.000Z",
  updated_at: "2026-12-07T00:00:00.000Z",
};

describe("hopgate admin domains status", () => {
  it("prints which server of the gateway holds each label of a wildcard", () => {
    const text = domainStatusText(
      {
        ...WILDCARD,
        labels: ["alpha.apps.example.test", "beta.apps.example.test"],
        label_holders: [
          {
            hostname: "alpha.apps.example.test",
            server: { id: "0b6f7c1e-0000-4000-8000-000000000001", advertise_address: "a.example.test:8443" },
          },
          {
            hostname: "beta.apps.example.test",
            server: { id: "0b6f7c1e-0000-4000-8000-000000000002", advertise_address: null },
          },
        ],
      },
      WILDCARD.domain,
    );
    assert.match(text, /^ {2}labels: {2}alpha\.apps\.example\.test, beta\.apps\.example\.test$/m);
    assert.match(
      text,
      /^ {2}label holders:\n {4}alpha\.apps\.example\.test on server 0b6f7c1e-0000-4000-8000-000000000001 \(a\.example\.test:8443\)\n {4}beta\.apps\.example\.test on server 0b6f7c1e-0000-4000-8000-000000000002$/m,
    );
  });

  it("prints no holders for a single server (the answer has none)", () => {
    const text = domainStatusText({ ...WILDCARD, labels: [] }, WILDCARD.domain);
    assert.match(text, /^ {2}labels: {2}-$/m);
    assert.doesNotMatch(text, /label holders/);
  });
});
