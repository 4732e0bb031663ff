import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { pgSkip } from "../helpers/postgres.js";
import { visit } from "../helpers/visit.js";
import { startRelayPair } from "./peer-cluster.js";

const DOMAIN = "relayed-trailers.example.test";

describe("response trailers across the peer relay (docs/scale-out.md)", { skip: pgSkip() }, () => {
  it("reach visitors of the server without the tunnel as they reach the holder's, set-cookie dropped", async (t) => {
    const { a, b } = await startRelayPair(t, DOMAIN, (req, res) => {
      if (req.url === "/ready") return res.end("ok");
      res.writeHead(200, { "content-type": "text/plain" });
      res.write("part1,");
      res.addTrailers({ "x-checksum": "abc123", "set-cookie": "late=1" });
      res.end("part2");
    });
    for (const server of [a, b]) {
      const label = server === a ? "holder" : "relaying server";
      for (const [kind, options] of [
        ["HTTP/2", { http2: true }],
        ["HTTP/1.1 with TE: trailers", { headers: { te: "trailers" } }],
      ] as const) {
        const response = await visit(server.httpsPort, DOMAIN, "/t", options);
        assert.equal(response.body.toString(), "part1,part2", `${label}, ${kind}`);
        assert.equal(response.trailers["x-checksum"], "abc123", `${label}, ${kind}`);
        assert.equal(response.trailers["set-cookie"], undefined, `${label}, ${kind}`);
      }
      const plain = await visit(server.httpsPort, DOMAIN, "/t");
      assert.equal(plain.body.toString(), "part1,part2", `${label}, HTTP/1.1 without TE`);
      assert.deepEqual(plain.trailers, {}, `${label}, HTTP/1.1 without TE`);
    }
  });
});
