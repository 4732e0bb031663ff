import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { backendRequestHead } from "../../src/client/backend-request.js";
import { selectService } from "../../src/client/service-selector.js";
import type { ServiceSpec } from "../../src/config/service-spec.js";
import { StreamOpenSchema } from "../../src/protocol/gen/hopgate/protocol/v1/tunnel_pb.js";
import { headerValues, WireHeader, type HeaderMap } from "../../src/protocol/wire-headers.js";

function open(method: string, url: string) {
  const header = Object.create(null) as HeaderMap;
  header[WireHeader.method] = headerValues([method]);
  header[WireHeader.url] = headerValues([url]);
  return create(StreamOpenSchema, { id: "1", serviceName: "web", header });
}

const services: ServiceSpec[] = [
  { name: "web", pathPrefix: "/", target: new URL("http://127.0.0.1:1/") },
  { name: "api", pathPrefix: "/api", target: new URL("http://127.0.0.1:2/") },
];

describe("backendRequestHead", () => {
  // A v1 server (the original Go one) sends the visitor's raw path and leaves the service to the
  // client's longest prefix: the client normalizes as a HopGate server does before choosing.
  const table: Array<[string, string, string]> = [
    ["/api/x?q=/../", "/api/x?q=/../", "api"],
    ["/api/../x", "/x", "web"],
    ["/%61pi/x", "/api/x", "api"],
    ["//api/%2e%2e/api/y", "/api/y", "api"],
    ["/api%2Fx", "/api%2Fx", "web"],
  ];
  for (const [url, path, service] of table) {
    it(`forwards ${url} as ${path} to the ${service} service`, () => {
      const head = backendRequestHead(open("GET", url));
      assert.ok(typeof head !== "string", typeof head === "string" ? head : "");
      assert.equal(head.path, path);
      assert.equal(selectService(services, "", head.path, 1)?.name, service);
    });
  }

  it("keeps OPTIONS * and refuses malformed or non-origin-form targets", () => {
    const options = backendRequestHead(open("OPTIONS", "*"));
    assert.ok(typeof options !== "string");
    assert.equal(options.path, "*");
    for (const url of ["/a%zz", "/a%00", "http://app.example.test/x", "*", "x"]) {
      assert.equal(typeof backendRequestHead(open("GET", url)), "string", url);
    }
  });
});
