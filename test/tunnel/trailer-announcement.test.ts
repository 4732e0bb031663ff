import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { frame } from "../../src/protocol/frames.js";
import { emptyFieldMap, headerValues, type HeaderMap } from "../../src/protocol/wire-headers.js";
import { startGateway } from "../helpers/gateway.js";
import { HostilePeer, responseHead } from "../helpers/hostile-peer.js";
import { tlsFixture } from "../helpers/tls-fixture.js";
import { visit } from "../helpers/visit.js";
import { within } from "../helpers/within.js";

const DOMAIN = "trailer-announce.example.test";

// The test's own reading of RFC 9110 §6.5.1 and §7.6.1 for the names the pool below holds.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const NEVER_ANNOUNCED = new Set([
  "content-length",
  "transfer-encoding",
  "set-cookie",
  "trailer",
  "te",
  "connection",
  "host",
  "authorization",
]);
const NAMES = [
  "x-checksum",
  "X-Checksum",
  "grpc-status",
  "__proto__",
  "Content-Length",
  "transfer-encoding",
  "Set-Cookie",
  "trailer",
  "TE",
  "connection",
  "host",
  "authorization",
  "X-HopGate-Status",
  "bad name",
  "x-a\tb",
  "",
];

/** What the visitor should see: the allowed names, lowercased, each once, in order. */
function expectedAnnouncement(values: readonly string[]): string | undefined {
  const names = new Set<string>();
  for (const value of values)
    for (const token of value.split(",")) {
      const name = token.trim().toLowerCase();
      if (TOKEN.test(name) && !NEVER_ANNOUNCED.has(name) && !name.startsWith("x-hopgate-")) names.add(name);
    }
  return names.size > 0 ? [...names].join(", ") : undefined;
}

describe("the Trailer announcement of a tunnel client's response (RFC 9110 §6.6.2)", () => {
  it("reaches exactly the visitors that get the trailers, naming only fields that may be trailers", async (t) => {
    const gateway = await startGateway(t);
    const peer = new HostilePeer({
      port: gateway.port,
      ca: tlsFixture().cert,
      domain: DOMAIN,
      apiKey: await gateway.register(DOMAIN),
      version: 2,
    });
    t.after(() => peer.close());
    await within(peer.ready, "the TunnelAccept");
    const list = fc
      .array(fc.tuple(fc.constantFrom(...NAMES), fc.constantFrom("", " ", "  ")), {
        minLength: 1,
        maxLength: 4,
      })
      .map((names) => names.map(([name, space]) => `${space}${name}${space}`).join(","));
    await fc.assert(
      fc.asyncProperty(
        fc.array(list, { minLength: 1, maxLength: 3 }),
        fc.constantFrom("h1", "h1 with TE: trailers", "h2"),
        fc.constantFrom("GET", "HEAD"),
        fc.constantFrom(200, 204, 304),
        fc.boolean(),
        async (announced, visitor, method, status, withLength) => {
          const hasBody = method === "GET" && status === 200;
          const response = visit(gateway.port, DOMAIN, "/", {
            method,
            http2: visitor === "h2",
            ...(visitor !== "h1" && { headers: { te: "trailers" } }),
          });
          const request = await within(peer.nextRequest(), "the request on the tunnel");
          const head: Record<string, string[]> = { trailer: announced, "content-type": ["text/plain"] };
          if (withLength && status === 200) head["content-length"] = ["4"];
          peer.send(responseHead(request.id, String(status), head));
          if (hasBody) peer.send(frame.data(request.id, 0n, Buffer.from("body")));
          const trailers: HeaderMap = emptyFieldMap();
          trailers["x-checksum"] = headerValues(["abc"]);
          peer.send(frame.trailers(request.id, trailers));
          peer.send(frame.close(request.id));
          const got = await within(response, "the visitor's response");

          const getsTrailers = hasBody && (visitor === "h2" || (visitor !== "h1" && !withLength));
          const label = JSON.stringify({ announced, visitor, method, status, withLength });
          assert.equal(got.status, status, label);
          assert.equal(got.body.toString(), hasBody ? "body" : "", label);
          assert.equal(got.trailers["x-checksum"], getsTrailers ? "abc" : undefined, label);
          assert.equal(
            got.headers.trailer,
            getsTrailers ? expectedAnnouncement(announced) : undefined,
            label,
          );
        },
      ),
      { numRuns: 60 },
    );
  });
});
