import assert from "node:assert/strict";
import { once } from "node:events";
import http from "node:http";
import type { ClientHttp2Stream } from "node:http2";
import { connect, type AddressInfo, type Socket } from "node:net";
import { duplexPair } from "node:stream";
import { describe, it, type TestContext } from "node:test";
import type { TLSSocket } from "node:tls";
import fc from "fast-check";
import type { PeerTarget } from "../../src/server/cluster/peer-routes.js";
import type { AccessRecord } from "../../src/server/proxy/access-record.js";
import type { ExchangeContext } from "../../src/server/proxy/proxied-exchange.js";
import { relayRequest, relayUpgrade } from "../../src/server/proxy/relayed-exchange.js";
import {
  bodyBytes,
  connectionLines,
  digest,
  endToEnd,
  field,
  FRAMING,
  grouped,
  H1_REQUEST_NAMES,
  http1RequestBytes,
  recordingBackend,
  RESPONSE_NAMES,
  type Answer,
  type Field,
  type Seen,
} from "../helpers/hostile-headers.js";
import { Http1ResponseReader } from "../helpers/http1-exchange.js";

/** A peer whose link went down between the route lookup and the relay. */
const downPeer: PeerTarget = { id: "gone", openExchange: () => undefined };

function contextFor(records: AccessRecord[], trailerOutcomes: string[] = []): ExchangeContext {
  return {
    requestId: "req-1",
    domain: "app.example.test",
    startedAtMs: Date.now(),
    proxyTimeoutMs: 30_000,
    remoteAddress: "127.0.0.1",
    forwardedFor: ["127.0.0.1"],
    relayedBy: undefined,
    sendTimeoutMs: 30_000,
    bodyTimeoutMs: 0,
    maxBodyBytes: 0,
    onFinished: (record) => records.push(record),
    onLimited: () => undefined,
    onTrailers: (outcome) => trailerOutcomes.push(outcome),
  };
}

/** A plain HTTP/1.1 edge that relays every request and upgrade to `peer`. */
async function relayingEdge(
  t: TestContext,
  peer: PeerTarget,
  records: AccessRecord[],
  trailerOutcomes: string[] = [],
): Promise<number> {
  const server = http.createServer((req, res) =>
    relayRequest(req, res, peer, contextFor(records, trailerOutcomes), req.rawHeaders),
  );
  server.on("upgrade", (req: http.IncomingMessage, socket: Socket, head: Buffer) =>
    relayUpgrade(req, socket, head, peer, contextFor(records), req.rawHeaders),
  );
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  t.after(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return (server.address() as AddressInfo).port;
}

/** A link whose every exchange `holder` (an HTTP/1.1 server, as the holder's edge) parses and answers. */
function linkTo(t: TestContext, holder: http.Server): PeerTarget {
  t.after(() => holder.closeAllConnections());
  return {
    id: "holder",
    openExchange: () => {
      const [ours, theirs] = duplexPair();
      holder.emit("connection", theirs);
      return ours as unknown as ClientHttp2Stream;
    },
  };
}

/** Fields this hop sets itself on the relayed request: Host, X-Request-ID, its framing, `Connection: close` and `TE: trailers`. */
const setByRelay = (name: string, text: string) =>
  name === "host" ||
  name === "x-request-id" ||
  FRAMING.has(name) ||
  (name === "connection" && text === "close") ||
  // This hop takes the holder's response trailers (relayTrailers); TE itself is hop-by-hop.
  (name === "te" && text === "trailers");
/** Fields the visitor's HTTP/1.1 server adds to any response. */
const setByEdge = (name: string, text: string) =>
  name === "date" ||
  FRAMING.has(name) ||
  (name === "connection" && /^(keep-alive|close)$/.test(text)) ||
  (name === "keep-alive" && /^timeout=\d+$/.test(text));

/** The holder strips the backend's X-HopGate-* itself; this hop trusts its authenticated peer there. */
const HOLDER_RESPONSE_NAMES = RESPONSE_NAMES.filter((name) => !name.startsWith("x-hopgate-"));

let run = 0;

describe("relayed exchange (docs/scale-out.md)", () => {
  it("relays the visitor's end-to-end fields and body, and the holder's, whatever Connection names (differential, this hop alone)", async (t) => {
    const seen = new Map<string, Seen>();
    const answers = new Map<string, Answer>();
    const holder = http.createServer(recordingBackend(seen, answers));
    const port = await relayingEdge(t, linkTo(t, holder), []);
    await fc.assert(
      fc.asyncProperty(
        fc.array(field(H1_REQUEST_NAMES, false), { maxLength: 8 }),
        connectionLines,
        bodyBytes,
        fc.record({
          fields: fc.array(field(HOLDER_RESPONSE_NAMES, false), { maxLength: 8 }),
          connection: connectionLines,
          body: bodyBytes,
        }),
        async (fields, connection, sent, answer) => {
          const path = `/d/${++run}`;
          answers.set(path, answer);
          const socket = connect(port, "127.0.0.1");
          const reader = new Http1ResponseReader(socket as unknown as TLSSocket);
          socket.write(http1RequestBytes(path, "app.example.test", fields, connection, sent));
          const response = await reader.next("POST").finally(() => socket.destroy());
          answers.delete(path);
          assert.equal(response.status, 200);
          const received = seen.get(path);
          seen.delete(path);
          assert.ok(received, "the holder saw the request");
          assert.equal(received.digest, digest(sent), "request body bytes");
          assert.deepEqual(
            grouped(received.fields.filter(([name, text]) => !setByRelay(name.toLowerCase(), text))),
            endToEnd(fields, connection, new Set(["host", "x-request-id", ...FRAMING])),
            "request fields at the holder",
          );
          assert.deepEqual(response.body, answer.body, "response body bytes");
          const backFields: Field[] = Object.entries(response.headers).filter(
            ([name, text]) => !setByEdge(name, text),
          );
          assert.deepEqual(
            grouped(backFields),
            endToEnd(answer.fields, answer.connection, FRAMING).map(([name, values]) => [
              name,
              [values.join(", ")],
            ]),
            "response fields at the visitor",
          );
        },
      ),
      { numRuns: 150 },
    );
  });

  it("passes the holder's Trailer announcement, reduced to allowed names, only to a visitor that gets the trailers", async (t) => {
    const holder = http.createServer((req, res) => {
      req.resume();
      res.writeHead(200, { trailer: "X-Checksum, content-length, bad name, set-cookie, x-checksum" });
      res.write("part1,");
      res.addTrailers({ "x-checksum": "abc123" });
      res.end("part2");
    });
    const outcomes: string[] = [];
    const port = await relayingEdge(t, linkTo(t, holder), [], outcomes);
    const get = (headers: http.OutgoingHttpHeaders) =>
      new Promise<http.IncomingMessage & { text: string }>((resolve, reject) => {
        const req = http.get({ port, host: "127.0.0.1", path: "/t", headers, agent: false }, (res) => {
          let text = "";
          res.setEncoding("utf8").on("data", (chunk: string) => (text += chunk));
          res.on("end", () => resolve(Object.assign(res, { text })));
        });
        req.on("error", reject);
      });
    const withTe = await get({ te: "trailers" });
    assert.equal(withTe.text, "part1,part2");
    assert.equal(withTe.headers.trailer, "x-checksum");
    assert.equal(withTe.trailers["x-checksum"], "abc123");
    const withoutTe = await get({});
    assert.equal(withoutTe.text, "part1,part2");
    assert.equal(withoutTe.headers.trailer, undefined);
    assert.deepEqual(withoutTe.trailers, {});
    assert.deepEqual(outcomes, ["sent", "dropped"]);
  });

  it("answers 502 and records tunnel_unavailable when the peer link is down as the relay starts", async (t) => {
    const records: AccessRecord[] = [];
    const port = await relayingEdge(t, downPeer, records);
    const response = await fetch(`http://127.0.0.1:${port}/x`, { method: "POST", body: "hello" });
    assert.equal(response.status, 502);
    await response.arrayBuffer();
    assert.deepEqual(
      records.map((r) => [r.status, r.error]),
      [[502, "tunnel_unavailable"]],
    );
  });

  it("answers an upgrade 502 and records tunnel_unavailable when the peer link is down", async (t) => {
    const records: AccessRecord[] = [];
    const port = await relayingEdge(t, downPeer, records);
    const req = http.request({
      port,
      host: "127.0.0.1",
      path: "/socket",
      headers: { connection: "Upgrade", upgrade: "websocket" },
    });
    req.end();
    const [response] = (await once(req, "response")) as [http.IncomingMessage];
    response.resume();
    assert.equal(response.statusCode, 502);
    assert.deepEqual(
      records.map((r) => [r.status, r.error]),
      [[502, "tunnel_unavailable"]],
    );
  });
});
