import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { maskUrlSecrets } from "../../src/lib/secret.js";

describe("maskUrlSecrets", () => {
  const cases: Array<[string, string]> = [
    [
      "https://auth.example/verify?token=s3cr3t&rd=https%3A%2F%2Fapp",
      "https://auth.example/verify?token=***&rd=***",
    ],
    ["https://auth.example/verify", "https://auth.example/verify"],
    ["http://gw:s3cr3t@auth.example:8080/v", "http://***:***@auth.example:8080/v"],
    ["http://s3cr3t@auth.example/v", "http://***@auth.example/v"],
    ["https://auth.example/v?s3cr3t", "https://auth.example/v?***"],
    ["https://auth.example/v?a=1&&s3cr3t#s3cr3t", "https://auth.example/v?a=***&&***#***"],
    ["not a URL s3cr3t", "***"],
  ];
  for (const [url, shown] of cases) {
    it(`shows ${url} as ${shown}, and that unchanged again`, () => {
      assert.equal(maskUrlSecrets(url), shown);
      assert.equal(maskUrlSecrets(shown), shown);
    });
  }
});
