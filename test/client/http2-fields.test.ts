import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { flatHttp2Fields, http2RequestHeaders } from "../../src/client/http2-fields.js";

const h2c = { target: new URL("http://127.0.0.1:50051/") };
const h2 = { target: new URL("https://127.0.0.1:50052/") };

describe("http2RequestHeaders (the tunnel's and the inspector replay's HTTP/2 request head)", () => {
  it("leaves out every connection-specific field (RFC 9113 §8.2.2), whatever its case", () => {
    const headers = http2RequestHeaders(
      {
        method: "POST",
        path: "/test.Echo/Unary",
        headers: [
          "Host",
          "a.example.test",
          "Connection",
          "close",
          "Keep-Alive",
          "timeout=5",
          "Proxy-Connection",
          "keep-alive",
          "Transfer-Encoding",
          "chunked",
          "Upgrade",
          "h2c",
          "TE",
          "gzip",
          "Content-Type",
          "application/grpc",
        ],
      },
      h2c,
    );
    assert.deepEqual(headers, {
      ":method": "POST",
      ":path": "/test.Echo/Unary",
      ":scheme": "http",
      ":authority": "a.example.test",
      te: "trailers",
      "content-type": "application/grpc",
    });
  });

  const authorities: Array<
    [what: string, headers: string[], hostHeader: string | undefined, expected: string]
  > = [
    ["the request's Host", ["host", "a.example.test"], undefined, "a.example.test"],
    ["the service's Host override", ["host", "a.example.test"], "grpc.internal", "grpc.internal"],
    ["the service's host and port without a Host", [], undefined, "127.0.0.1:50052"],
  ];
  for (const [what, flat, hostHeader, expected] of authorities) {
    it(`takes :authority from ${what}`, () => {
      const service = hostHeader === undefined ? h2 : { ...h2, hostHeader };
      const headers = http2RequestHeaders({ method: "GET", path: "/", headers: flat }, service);
      assert.equal(headers[":authority"], expected);
      assert.equal(headers[":scheme"], "https");
    });
  }

  it("keeps repeated fields in order as one list", () => {
    const headers = http2RequestHeaders(
      { method: "GET", path: "/", headers: ["X-Tag", "a", "x-tag", "b", "X-TAG", "c"] },
      h2c,
    );
    assert.deepEqual(headers["x-tag"], ["a", "b", "c"]);
  });
});

describe("flatHttp2Fields", () => {
  it("lists node's parsed fields name by name, repeated values in order, pseudo-headers left out", () => {
    assert.deepEqual(
      flatHttp2Fields({ ":status": "200", "content-type": "application/grpc", "set-cookie": ["a=1", "b=2"] }),
      ["content-type", "application/grpc", "set-cookie", "a=1", "set-cookie", "b=2"],
    );
  });
});
