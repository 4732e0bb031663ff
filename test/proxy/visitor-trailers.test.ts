import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { acceptsTrailers } from "../../src/server/proxy/visitor-trailers.js";
import type { VisitorRequest } from "../../src/server/proxy/visitor.js";

const request = (version: string, method: string, te?: string) =>
  ({
    httpVersionMajor: Number(version.split(".")[0]),
    httpVersionMinor: Number(version.split(".")[1]),
    method,
    headers: te === undefined ? {} : { te },
  }) as unknown as VisitorRequest;

describe("acceptsTrailers", () => {
  const cases: Array<[string, VisitorRequest, Record<string, string>, boolean, number?]> = [
    ["HTTP/2 always", request("2.0", "POST"), {}, true],
    ["HTTP/2 with a length", request("2.0", "GET"), { "content-length": "4" }, true],
    ["HTTP/1.1 with TE: trailers, chunked", request("1.1", "GET", "trailers"), {}, true],
    ["HTTP/1.1 with trailers among other codings", request("1.1", "GET", "gzip, Trailers"), {}, true],
    ["HTTP/1.1 without TE", request("1.1", "GET"), {}, false],
    ["HTTP/1.1 with TE naming no trailers", request("1.1", "GET", "gzip, trailersx"), {}, false],
    [
      "HTTP/1.1 with a Content-Length response",
      request("1.1", "GET", "trailers"),
      { "content-length": "4" },
      false,
    ],
    ["HTTP/1.1 HEAD", request("1.1", "HEAD", "trailers"), {}, false],
    ["HTTP/1.0, which has no chunked bodies", request("1.0", "GET", "trailers"), {}, false],
    ["HTTP/2 HEAD", request("2.0", "HEAD"), {}, false],
    ["HTTP/1.1 204, which has no body", request("1.1", "GET", "trailers"), {}, false, 204],
    ["HTTP/2 304, which has no body", request("2.0", "GET"), {}, false, 304],
  ];
  for (const [name, req, headers, expected, status = 200] of cases) {
    it(`${expected ? "sends" : "drops"} trailers: ${name}`, () =>
      assert.equal(acceptsTrailers(req, status, headers), expected));
  }
});
