import assert from "node:assert/strict";
import http2 from "node:http2";
import type { TestContext } from "node:test";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import {
  VISITOR_REJECTION_REASONS,
  type VisitorRejectionReason,
} from "../../src/server/edge/client-error.js";
import { startBackend } from "../helpers/backend.js";
import { startGateway, startTestClient, type Gateway } from "../helpers/gateway.js";
import { until } from "../helpers/poll-until.js";
import { sampleValue } from "../helpers/prometheus-text.js";
import {
  CLIENT_PREFACE,
  FLAG,
  FRAME,
  frame,
  headerBlock,
  headersFrames,
  parseFrames,
} from "../helpers/raw-h2.js";
import { rawVisitor } from "../helpers/raw-visitor.js";
import { tlsFixture } from "../helpers/tls-fixture.js";
import { visit, type Visit } from "../helpers/visit.js";

const DOMAIN = "app.example.test";
const HEAD = `Host: ${DOMAIN}\r\n`;

/** What the backend saw of each request: its start, and whether its body ended or was cut off. */
interface Seen {
  readonly url: string;
  readonly bodyBytes: number;
  readonly outcome: "pending" | "ended" | "aborted";
}

/** A gateway with `flags`, a connected client and a backend that records every request it sees. */
async function hostileSetup(t: TestContext, flags: Record<string, string> = {}) {
  const gateway = await startGateway(t, flags);
  const seen: Seen[] = [];
  const backend = await startBackend(t, (req, res) => {
    const index = seen.push({ url: req.url ?? "", bodyBytes: 0, outcome: "pending" }) - 1;
    const update = (change: Partial<Seen>) => (seen[index] = { ...seen[index]!, ...change });
    req.on("data", (chunk: Buffer) => update({ bodyBytes: seen[index]!.bodyBytes + chunk.length }));
    req.on("end", () => {
      update({ outcome: "ended" });
      res.end("ok");
    });
    req.on("close", () => {
      if (!req.complete) update({ outcome: "aborted" });
    });
  });
  const key = await gateway.register(DOMAIN);
  await startTestClient(t, gateway, DOMAIN, key, [`web=${backend.url}`]).connected;
  return { gateway, seen };
}

async function scrape(gateway: Gateway): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${gateway.server.metricsPort}/metrics`);
  return response.text();
}

/** `hopgate_visitor_rejected_total` by reason, each expected one given (the others must be 0). */
async function assertRejections(
  gateway: Gateway,
  expected: Partial<Record<VisitorRejectionReason, number>>,
): Promise<void> {
  const metrics = await scrape(gateway);
  const counts = (
    reasons: readonly VisitorRejectionReason[],
    value: (r: VisitorRejectionReason) => unknown,
  ) => Object.fromEntries(reasons.map((reason) => [reason, value(reason)]));
  assert.deepEqual(
    counts(VISITOR_REJECTION_REASONS, (reason) =>
      sampleValue(metrics, `hopgate_visitor_rejected_total{reason="${reason}"}`),
    ),
    counts(VISITOR_REJECTION_REASONS, (reason) => expected[reason] ?? 0),
  );
}

/** An HTTP/2 connection of raw frames: preface and empty SETTINGS sent, server frames collected. */
async function rawH2(port: number) {
  const visitor = await rawVisitor(port, DOMAIN, "h2");
  assert.equal(visitor.socket.alpnProtocol, "h2");
  visitor.socket.write(Buffer.concat([CLIENT_PREFACE, frame(FRAME.settings, 0, 0)]));
  let bytes = Buffer.alloc(0);
  visitor.socket.on("data", (chunk: Buffer) => (bytes = Buffer.concat([bytes, chunk])));
  return { visitor, frames: () => parseFrames(bytes) };
}

/** An HTTP/2 session that has exchanged SETTINGS both ways (a PING round trip orders them). */
async function settledSession(t: TestContext, port: number): Promise<http2.ClientHttp2Session> {
  const session = http2.connect(`https://127.0.0.1:${port}`, { ca: tlsFixture().cert, servername: DOMAIN });
  t.after(() => session.destroy());
  await new Promise<void>((resolve, reject) => {
    session.once("error", reject);
    session.once("remoteSettings", () => session.ping((error) => (error ? reject(error) : resolve())));
  });
  return session;
}

/** One HTTP/2 request on `session`: status (0 when none came) and the RST_STREAM code. */
function h2Request(
  session: http2.ClientHttp2Session,
  headers: http2.OutgoingHttpHeaders,
  body: Buffer[] = [],
  gapMs = 0,
): Promise<{ status: number; rstCode: number; body: string }> {
  return new Promise((resolve) => {
    const req = session.request({ ":authority": DOMAIN, ...headers }, { endStream: body.length === 0 });
    let status = 0;
    let text = "";
    req.on("response", (h) => (status = Number(h[":status"])));
    req.on("data", (chunk: Buffer) => (text += chunk.toString()));
    req.on("error", () => undefined);
    req.on("close", () => resolve({ status, rstCode: req.rstCode ?? 0, body: text }));
    void (async () => {
      for (const chunk of body) {
        if (req.destroyed || req.closed) return;
        req.write(chunk);
        if (gapMs > 0) await sleep(gapMs);
      }
      if (body.length > 0 && !req.destroyed) req.end();
    })();
  });
}

/** POSTs 1200 bytes without Content-Length, two 600-byte chunks 1 s apart: past a 1000-byte limit. */
function h2PostPastLimit(session: http2.ClientHttp2Session, path: string) {
  return h2Request(
    session,
    { ":method": "POST", ":path": path },
    [Buffer.alloc(600), Buffer.alloc(600)],
    1000,
  );
}

/** Waits until the backend has seen request `index` and it ended or was aborted. */
function untilSettled(seen: readonly Seen[], index: number, what: string): Promise<void> {
  return until(() => seen[index]?.outcome !== undefined && seen[index].outcome !== "pending", what);
}

describe("hostile visitors", () => {
  it("answers an HTTP/1.1 head sent slowly with 408 at HOP_SERVER_HEADERS_TIMEOUT_SECONDS", async (t) => {
    const { gateway, seen } = await hostileSetup(t, { headersTimeoutSeconds: "2" });
    const visitor = await rawVisitor(gateway.port, DOMAIN);
    visitor.socket.write(`GET /slow HTTP/1.1\r\n${HEAD}`);
    const trickle = setInterval(() => visitor.socket.write("X-Slow: 1\r\n"), 300);
    t.after(() => clearInterval(trickle));
    const outcome = await visitor.outcome(15_000);
    clearInterval(trickle);
    t.diagnostic(`408 and close after ${outcome.elapsedMs} ms`);
    assert.match(outcome.received, /^HTTP\/1\.1 408 /);
    assert.ok(outcome.closed, "connection closed");
    // 2 s plus node's once-a-second check; far below the 20 s default that would show it unwired.
    assert.ok(outcome.elapsedMs >= 1500 && outcome.elapsedMs < 10_000, `cut after ${outcome.elapsedMs} ms`);
    assert.deepEqual(seen, []);
    await assertRejections(gateway, { timeout: 1 });
  });

  it("keeps an idle HTTP/1.1 keep-alive connection for HOP_SERVER_IDLE_TIMEOUT_SECONDS, then closes it", async (t) => {
    const { gateway } = await hostileSetup(t, { idleTimeoutSeconds: "2" });
    const visitor = await rawVisitor(gateway.port, DOMAIN);
    visitor.socket.write(`GET /first HTTP/1.1\r\n${HEAD}\r\n`);
    const response = await visitor.waitFor("ok");
    assert.match(response, /^HTTP\/1\.1 200 /);
    assert.match(response, /\r\nkeep-alive: timeout=2\r\n/i);
    const outcome = await visitor.outcome(15_000);
    t.diagnostic(`idle connection closed ${outcome.elapsedMs} ms after the handshake`);
    assert.ok(outcome.closed, "connection closed");
    // node's own keep-alive timeout (5 s) would close it later than 4.5 s: the setting would not apply.
    assert.ok(outcome.elapsedMs >= 1500 && outcome.elapsedMs < 4500, `closed after ${outcome.elapsedMs} ms`);
  });

  it("drops an HTTP/2 connection whose first HEADERS frame never completes", async (t) => {
    const { gateway, seen } = await hostileSetup(t, { headersTimeoutSeconds: "2" });
    // Silent after a HEADERS frame without END_HEADERS; and one that trickles CONTINUATION bytes.
    for (const trickles of [false, true]) {
      const { visitor } = await rawH2(gateway.port);
      const block = headerBlock([
        [":method", "GET"],
        [":scheme", "https"],
        [":path", "/"],
        [":authority", DOMAIN],
      ]);
      visitor.socket.write(frame(FRAME.headers, FLAG.endStream, 1, block));
      const trickle = setInterval(
        () => visitor.socket.write(frame(FRAME.continuation, 0, 1, headerBlock([["x-slow", "1"]]))),
        300,
      );
      if (!trickles) clearInterval(trickle);
      t.after(() => clearInterval(trickle));
      const outcome = await visitor.outcome(15_000);
      clearInterval(trickle);
      const label = trickles ? "trickling" : "silent";
      t.diagnostic(`${label}: closed after ${outcome.elapsedMs} ms`);
      assert.ok(outcome.closed, `${label}: connection closed`);
      assert.ok(
        outcome.elapsedMs >= 1500 && outcome.elapsedMs < 10_000,
        `${label}: cut after ${outcome.elapsedMs} ms`,
      );
    }
    assert.deepEqual(seen, []);
    await assertRejections(gateway, { timeout: 2 });
  });

  it("keeps an HTTP/2 visitor that sends requests in time, past the headers timeout", async (t) => {
    const { gateway, seen } = await hostileSetup(t, { headersTimeoutSeconds: "1" });
    const session = await settledSession(t, gateway.port);
    assert.equal((await h2Request(session, { ":path": "/first" })).status, 200);
    await sleep(2500);
    assert.equal((await h2Request(session, { ":path": "/later" })).status, 200);
    assert.deepEqual(
      seen.map((s) => s.url),
      ["/first", "/later"],
    );
    await assertRejections(gateway, {});
  });

  it("answers an HTTP/1.1 head over HOP_SERVER_MAX_HEADER_BYTES with 431", async (t) => {
    const { gateway, seen } = await hostileSetup(t, { maxHeaderBytes: "8192" });
    const fits = await visit(gateway.port, DOMAIN, "/fits", { headers: { "x-pad": "a".repeat(6000) } });
    assert.equal(fits.status, 200);
    const visitor = await rawVisitor(gateway.port, DOMAIN);
    visitor.socket.write(`GET /big HTTP/1.1\r\n${HEAD}X-Pad: ${"a".repeat(10_000)}\r\n\r\n`);
    const outcome = await visitor.outcome(10_000);
    assert.match(outcome.received, /^HTTP\/1\.1 431 /);
    assert.deepEqual(
      seen.map((s) => s.url),
      ["/fits"],
    );
    await assertRejections(gateway, { header_too_large: 1 });
  });

  it("answers 431 to an HTTP/2 head over the limit, before and after SETTINGS are acknowledged", async (t) => {
    const { gateway, seen } = await hostileSetup(t, { maxHeaderBytes: "8192" });
    // Raw frames: our SETTINGS ACK never goes out, so nghttp2 does not enforce the limit itself.
    const { visitor, frames } = await rawH2(gateway.port);
    const big = headerBlock([
      [":method", "GET"],
      [":scheme", "https"],
      [":path", "/big-raw"],
      [":authority", DOMAIN],
      ["x-pad", "a".repeat(10_000)],
    ]);
    visitor.socket.write(headersFrames(1, big, true));
    await until(
      () => frames().some((f) => f.type === FRAME.data && f.streamId === 1 && f.payload.length > 0),
      "the response body",
    );
    const body = Buffer.concat(
      frames()
        .filter((f) => f.type === FRAME.data && f.streamId === 1)
        .map((f) => f.payload),
    );
    assert.equal(body.toString(), "Request header fields too large\n");
    visitor.socket.destroy();

    const session = await settledSession(t, gateway.port);
    const fits = await h2Request(session, { ":path": "/fits", "x-pad": "a".repeat(6000) });
    assert.equal(fits.status, 200);
    const refused = await h2Request(session, { ":path": "/big-settled", "x-pad": "a".repeat(10_000) });
    assert.equal(refused.status, 431);
    assert.equal(refused.body, "Request header fields too large\n");
    assert.deepEqual(
      seen.map((s) => s.url),
      ["/fits"],
    );
    await assertRejections(gateway, { header_too_large: 2 });
  });

  it("answers 431 to ~100 KB HTTP/2 heads and ends a ~1 MB one with GOAWAY, never REFUSED_STREAM", async (t) => {
    const { gateway, seen } = await hostileSetup(t);
    // node's client (like curl's libnghttp2) refuses to send a header block over 64 KiB itself,
    // closing the stream with REFUSED_STREAM without a byte on the wire: this one is allowed to.
    const connect = () => {
      const session = http2.connect(`https://127.0.0.1:${gateway.port}`, {
        ca: tlsFixture().cert,
        servername: DOMAIN,
        maxSendHeaderBlockLength: 4 * 1024 * 1024,
      });
      t.after(() => session.destroy());
      return session;
    };
    /** `total` bytes of header values in fields of `fieldBytes` (one HPACK field holds at most 64 KiB). */
    const pad = (total: number, fieldBytes: number) =>
      Object.fromEntries(
        Array.from({ length: Math.ceil(total / fieldBytes) }, (_, i) => [
          `x-pad-${i}`,
          "a".repeat(fieldBytes),
        ]),
      );
    const session = connect();
    // Before and after our SETTINGS are acknowledged (a PING round trip orders them).
    const early = await h2Request(session, { ":path": "/early", ...pad(100_000, 10_000) });
    await new Promise<void>((resolve, reject) =>
      session.ping((error) => (error ? reject(error) : resolve())),
    );
    const settled = await h2Request(session, { ":path": "/settled", ...pad(100_000, 10_000) });
    const fewFields = await h2Request(session, { ":path": "/few", ...pad(120_000, 40_000) });
    const manyFields = await h2Request(session, { ":path": "/many", ...pad(40_000, 20) });
    for (const [label, response] of [
      ["before SETTINGS ack", early],
      ["after SETTINGS ack", settled],
      ["in 40 KB fields", fewFields],
      ["in 2000 fields of 20 bytes", manyFields],
    ] as const) {
      assert.equal(response.status, 431, label);
      assert.equal(response.body, "Request header fields too large\n", label);
      assert.notEqual(response.rstCode, http2.constants.NGHTTP2_REFUSED_STREAM, label);
    }
    const fits = await h2Request(session, { ":path": "/fits", ...pad(10_000, 5_000) });
    assert.equal(fits.status, 200, "the session still serves requests");

    // ~1 MB: nghttp2 ends the connection (more than 8 CONTINUATION frames), the documented answer.
    const huge = connect();
    const goaway = new Promise<number>((resolve) => huge.once("goaway", (code: number) => resolve(code)));
    huge.on("error", () => undefined);
    const hugeResponse = await h2Request(huge, { ":path": "/huge", ...pad(1_000_000, 10_000) });
    assert.equal(hugeResponse.status, 0);
    assert.notEqual(hugeResponse.rstCode, http2.constants.NGHTTP2_REFUSED_STREAM);
    assert.equal(await goaway, http2.constants.NGHTTP2_INTERNAL_ERROR);
    assert.deepEqual(
      seen.map((s) => s.url),
      ["/fits"],
    );
    await assertRejections(gateway, { header_too_large: 4 });
  });

  it("answers conflicting or broken HTTP/1.1 framing with 400 and forwards nothing", async (t) => {
    const { gateway, seen } = await hostileSetup(t);
    const cases: Array<[string, string]> = [
      [
        "Content-Length with Transfer-Encoding",
        "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
      ],
      ["two different Content-Lengths", "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"],
      ["Content-Length that is not a number", "Content-Length: 5x\r\n\r\nhello"],
      ["chunk size that is not hex", "Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"],
      ["chunk longer than its size", "Transfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n"],
      ["chunked not the final coding", "Transfer-Encoding: chunked, gzip\r\n\r\n5\r\nhello\r\n0\r\n\r\n"],
    ];
    for (const [label, rest] of cases) {
      const visitor = await rawVisitor(gateway.port, DOMAIN);
      visitor.socket.write(`POST /framing HTTP/1.1\r\n${HEAD}${rest}`);
      const outcome = await visitor.outcome(10_000);
      assert.match(outcome.received, /^HTTP\/1\.1 400 /, label);
      assert.ok(outcome.closed, `${label}: connection closed`);
    }
    await sleep(500);
    assert.deepEqual(seen, [], "the backend saw no request");
    await assertRejections(gateway, { framing: 6 });
  });

  it("answers a request line or header the parser cannot read with 400, counted as malformed", async (t) => {
    const { gateway, seen } = await hostileSetup(t);
    const heads = [
      `GET / HTTP/1.1\r\n${HEAD}Bad Header\r\n\r\n`,
      `G(T / HTTP/1.1\r\n${HEAD}\r\n`,
      `GET / HTTP/9.9\r\n${HEAD}\r\n`,
    ];
    for (const head of heads) {
      const visitor = await rawVisitor(gateway.port, DOMAIN);
      visitor.socket.write(head);
      const outcome = await visitor.outcome(10_000);
      assert.match(outcome.received, /^HTTP\/1\.1 400 Bad Request\r\nConnection: close\r\n\r\n$/, head);
      assert.ok(outcome.closed, `${head}: connection closed`);
    }
    assert.deepEqual(seen, []);
    await assertRejections(gateway, { malformed: 3 });
  });

  it("answers pipelined HTTP/1.1 requests in order, and survives a malformed one behind them", async (t) => {
    const { gateway, seen } = await hostileSetup(t);
    const get = (path: string) => `GET ${path} HTTP/1.1\r\n${HEAD}\r\n`;
    const visitor = await rawVisitor(gateway.port, DOMAIN);
    visitor.socket.write(`${get("/p1")}${get("/p2")}${get("/p3")}`);
    const received = await visitor.waitFor("HTTP/1.1 200 ", 3);
    visitor.socket.destroy();
    assert.deepEqual(received.match(/HTTP\/1\.1 \d{3} /g), Array(3).fill("HTTP/1.1 200 "));
    assert.deepEqual(
      seen.map((s) => s.url),
      ["/p1", "/p2", "/p3"],
    );
    // The parser fails on the third while the first two are under way: the connection is closed.
    const broken = await rawVisitor(gateway.port, DOMAIN);
    broken.socket.write(`${get("/q1")}${get("/q2")}GARBAGE\r\n\r\n`);
    assert.ok((await broken.outcome(10_000)).closed, "connection closed");
    assert.equal((await visit(gateway.port, DOMAIN, "/after")).status, 200);
    await assertRejections(gateway, { malformed: 1 });
  });

  it("aborts the backend's request when bad chunk framing follows a forwarded head", async (t) => {
    const { gateway, seen } = await hostileSetup(t);
    const visitor = await rawVisitor(gateway.port, DOMAIN);
    visitor.socket.write(`POST /late HTTP/1.1\r\n${HEAD}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n`);
    await until(() => seen[0]?.bodyBytes === 5, "the first chunk at the backend");
    visitor.socket.write("zz\r\n");
    const outcome = await visitor.outcome(10_000);
    assert.match(outcome.received, /^HTTP\/1\.1 400 /);
    await until(() => seen[0]?.outcome !== "pending", "the backend request to end");
    assert.equal(seen[0]?.outcome, "aborted");
    await assertRejections(gateway, { framing: 1 });
  });

  it("resets HTTP/2 streams with forbidden or conflicting framing headers and forwards nothing", async (t) => {
    const { gateway, seen } = await hostileSetup(t);
    const base: Array<[string, string]> = [
      [":method", "POST"],
      [":scheme", "https"],
      [":path", "/framing"],
      [":authority", DOMAIN],
    ];
    const cases: Array<[string, Array<[string, string]>]> = [
      ["transfer-encoding", [["transfer-encoding", "chunked"]]],
      [
        "two content-lengths",
        [
          ["content-length", "5"],
          ["content-length", "6"],
        ],
      ],
    ];
    for (const [label, extra] of cases) {
      const { visitor, frames } = await rawH2(gateway.port);
      visitor.socket.write(headersFrames(1, headerBlock([...base, ...extra]), false));
      visitor.socket.write(frame(FRAME.data, FLAG.endStream, 1, Buffer.from("hello")));
      await until(
        () => frames().some((f) => f.type === FRAME.rstStream && f.streamId === 1),
        `${label}: a reset`,
      );
      const reset = frames().find((f) => f.type === FRAME.rstStream && f.streamId === 1);
      assert.equal(reset?.payload.readUInt32BE(0), http2.constants.NGHTTP2_PROTOCOL_ERROR, label);
      visitor.socket.destroy();
    }
    await sleep(500);
    assert.deepEqual(seen, []);
  });

  it("answers a declared body over HOP_SERVER_MAX_BODY_BYTES with 413 before the backend sees it", async (t) => {
    const { gateway, seen } = await hostileSetup(t, { maxBodyBytes: "1000" });
    const exact = await visit(gateway.port, DOMAIN, "/exact", { method: "POST", body: Buffer.alloc(1000) });
    assert.equal(exact.status, 200);
    // HTTP/1.1: only the head is sent; the answer must not wait for the body.
    const visitor = await rawVisitor(gateway.port, DOMAIN);
    visitor.socket.write(`POST /declared HTTP/1.1\r\n${HEAD}Content-Length: 5000\r\n\r\n`);
    const outcome = await visitor.outcome(10_000);
    assert.match(outcome.received, /^HTTP\/1\.1 413 /);
    assert.match(outcome.received, /\r\nconnection: close\r\n/i);
    assert.ok(outcome.closed, "connection closed");
    // HTTP/2: 413, then the stream is reset with NO_ERROR so that the visitor stops sending.
    const session = await settledSession(t, gateway.port);
    const h2 = await h2Request(
      session,
      { ":method": "POST", ":path": "/declared-h2", "content-length": "5000" },
      Array.from({ length: 5 }, () => Buffer.alloc(1000)),
      500,
    );
    assert.equal(h2.status, 413);
    assert.equal(h2.rstCode, http2.constants.NGHTTP2_NO_ERROR);
    assert.deepEqual(
      seen.map((s) => [s.url, s.outcome]),
      [["/exact", "ended"]],
    );
    const metrics = await scrape(gateway);
    assert.equal(sampleValue(metrics, 'hopgate_visitor_limited_total{reason="body"}'), 2);
  });

  it("aborts the backend's request and answers 413 when a body of unknown length passes the limit", async (t) => {
    const { gateway, seen } = await hostileSetup(t, { maxBodyBytes: "1000" });
    // HTTP/1.1 chunked: the first chunk reaches the backend, the one past the limit never does.
    const visitor = await rawVisitor(gateway.port, DOMAIN);
    const chunk = (size: number) => `${size.toString(16)}\r\n${"a".repeat(size)}\r\n`;
    visitor.socket.write(`POST /chunked HTTP/1.1\r\n${HEAD}Transfer-Encoding: chunked\r\n\r\n${chunk(600)}`);
    await until(() => seen[0]?.bodyBytes === 600, "the first chunk at the backend");
    visitor.socket.write(chunk(600));
    const outcome = await visitor.outcome(10_000);
    assert.match(outcome.received, /^HTTP\/1\.1 413 /);
    assert.match(outcome.received, /\r\nconnection: close\r\n/i);
    assert.ok(outcome.closed, "connection closed");
    await until(() => seen[0]?.outcome !== "pending", "the backend request to end");
    assert.deepEqual(seen[0], { url: "/chunked", bodyBytes: 600, outcome: "aborted" });

    // HTTP/2 without Content-Length: the same.
    const session = await settledSession(t, gateway.port);
    const h2 = await h2PostPastLimit(session, "/stream-h2");
    assert.equal(h2.status, 413);
    assert.match(h2.body, /413 Content Too Large/);
    assert.equal(h2.rstCode, http2.constants.NGHTTP2_NO_ERROR, "the stream is reset once the page is out");
    await untilSettled(seen, 1, "the second backend request to end");
    assert.deepEqual(seen[1], { url: "/stream-h2", bodyBytes: 600, outcome: "aborted" });
    const metrics = await scrape(gateway);
    assert.equal(sampleValue(metrics, 'hopgate_visitor_limited_total{reason="body"}'), 2);
  });

  it("resets the visitor's response when the body passes the limit after the backend answered", async (t) => {
    const gateway = await startGateway(t, { maxBodyBytes: "1000" });
    let backendOutcome: "pending" | "ended" | "aborted" = "pending";
    const backend = await startBackend(t, (req, res) => {
      res.writeHead(200, { "content-type": "text/plain" });
      res.write("early answer\n");
      req.on("end", () => (backendOutcome = "ended"));
      req.on("close", () => !req.complete && (backendOutcome = "aborted"));
      req.resume();
    });
    const key = await gateway.register(DOMAIN);
    await startTestClient(t, gateway, DOMAIN, key, [`web=${backend.url}`]).connected;
    const session = await settledSession(t, gateway.port);
    const h2 = await h2PostPastLimit(session, "/early");
    assert.equal(h2.status, 200);
    assert.equal(h2.body, "early answer\n");
    assert.notEqual(h2.rstCode, http2.constants.NGHTTP2_NO_ERROR, "the response is cut off, not ended");
    await until(() => backendOutcome !== "pending", "the backend request to end");
    assert.equal(backendOutcome, "aborted");
  });

  it("answers an HTTP/1.1 body sent slowly with 408 at HOP_SERVER_REQUEST_TIMEOUT_SECONDS", async (t) => {
    const { gateway, seen } = await hostileSetup(t, {
      headersTimeoutSeconds: "1",
      requestTimeoutSeconds: "2",
    });
    const visitor = await rawVisitor(gateway.port, DOMAIN);
    visitor.socket.write(`POST /slow-body HTTP/1.1\r\n${HEAD}Content-Length: 100000\r\n\r\n`);
    const trickle = setInterval(() => visitor.socket.write("a"), 200);
    t.after(() => clearInterval(trickle));
    const outcome = await visitor.outcome(15_000);
    clearInterval(trickle);
    t.diagnostic(`408 and close after ${outcome.elapsedMs} ms`);
    assert.match(outcome.received, /^HTTP\/1\.1 408 /);
    assert.ok(outcome.elapsedMs >= 1500 && outcome.elapsedMs < 10_000, `cut after ${outcome.elapsedMs} ms`);
    await untilSettled(seen, 0, "the backend request to end");
    assert.equal(seen[0]?.outcome, "aborted");
    await assertRejections(gateway, { timeout: 1 });
  });

  it("limits requests per address with 429 and Retry-After, HTTP/1.1 and HTTP/2, and refills", async (t) => {
    const { gateway } = await hostileSetup(t, { maxRequestsPerIpPerSecond: "1", requestBurstPerIp: "3" });
    const startedAtMs = Date.now();
    const outcomes: Array<{ http2: boolean; status: number; visit: Visit }> = [];
    // Alternating protocols until each has been refused (a token refills every second meanwhile).
    while (
      !([false, true] as const).every((h2) => outcomes.some((o) => o.http2 === h2 && o.status === 429))
    ) {
      assert.ok(outcomes.length < 40, `no 429 for both protocols in ${outcomes.length} requests`);
      const http2 = outcomes.length % 2 === 1;
      const response = await visit(gateway.port, DOMAIN, "/", {
        http2,
        headers: { accept: "application/json" },
      });
      outcomes.push({ http2, status: response.status, visit: response });
    }
    const admitted = outcomes.filter((o) => o.status === 200).length;
    const elapsedSeconds = (Date.now() - startedAtMs) / 1000;
    assert.deepEqual(
      outcomes.slice(0, 3).map((o) => o.status),
      [200, 200, 200],
    );
    assert.ok(admitted <= 3 + Math.ceil(elapsedSeconds), `${admitted} admitted in ${elapsedSeconds} s`);
    assert.ok(outcomes.every((o) => o.status === 200 || o.status === 429));
    const refused = outcomes.at(-1)!.visit;
    const retryAfterSeconds = Number(refused.headers["retry-after"]);
    assert.equal(retryAfterSeconds, 1);
    const page = JSON.parse(refused.body.toString()) as { error: { code: string } };
    assert.equal(page.error.code, "rate_limited");
    await sleep(retryAfterSeconds * 1000 + 100);
    assert.equal((await visit(gateway.port, DOMAIN, "/")).status, 200);
    const limited = outcomes.filter((o) => o.status === 429).length;
    const metrics = await scrape(gateway);
    assert.equal(sampleValue(metrics, 'hopgate_visitor_limited_total{reason="rate"}'), limited);
    assert.equal(
      sampleValue(
        metrics,
        'hopgate_http_requests_total{method="GET",status="429",domain="app.example.test"}',
      ),
      limited,
    );
  });

  it("answers 429 on connections past HOP_SERVER_MAX_CONNECTIONS_PER_IP and closes them", async (t) => {
    // The tunnel client's own connection from 127.0.0.1 is the first of three.
    const { gateway, seen } = await hostileSetup(t, { maxConnectionsPerIp: "3" });
    const keepAlive = `GET /kept HTTP/1.1\r\n${HEAD}\r\n`;
    const held = [await rawVisitor(gateway.port, DOMAIN), await rawVisitor(gateway.port, DOMAIN)];
    for (const visitor of held) {
      visitor.socket.write(keepAlive);
      await visitor.waitFor("\r\n\r\nok");
      t.after(() => visitor.socket.destroy());
    }
    const excess = await rawVisitor(gateway.port, DOMAIN);
    excess.socket.write(keepAlive);
    const outcome = await excess.outcome(10_000);
    assert.match(outcome.received, /^HTTP\/1\.1 429 /);
    assert.match(outcome.received, /\r\nretry-after: 1\r\n/i);
    assert.match(outcome.received, /\r\nconnection: close\r\n/i);
    assert.ok(outcome.closed, "excess connection closed");
    // HTTP/2: 429, then GOAWAY ends the session.
    const session = http2.connect(`https://127.0.0.1:${gateway.port}`, {
      ca: tlsFixture().cert,
      servername: DOMAIN,
    });
    session.on("error", () => undefined);
    const goaway = new Promise<void>((resolve) => session.once("goaway", () => resolve()));
    t.after(() => session.destroy());
    assert.equal((await h2Request(session, { ":path": "/h2" })).status, 429);
    await goaway;
    session.destroy();
    // A held connection keeps working; once one closes, a new connection is welcome again.
    held[0]!.socket.write(keepAlive);
    await held[0]!.waitFor("HTTP/1.1 200 OK\r\n", 2);
    held[1]!.socket.destroy();
    await sleep(300);
    assert.equal((await visit(gateway.port, DOMAIN, "/after")).status, 200);
    assert.ok(!seen.some((s) => s.url === "/h2"));
    const metrics = await scrape(gateway);
    assert.equal(sampleValue(metrics, 'hopgate_visitor_limited_total{reason="connections"}'), 2);
  });

  it("exempts the tunnel endpoint and the admin API from every visitor limit", async (t) => {
    const adminApiKey = "admin-key-0123456789abcdef";
    const { gateway } = await hostileSetup(t, {
      adminApiKey,
      maxConnectionsPerIp: "1",
      maxRequestsPerIpPerSecond: "1",
      requestBurstPerIp: "1",
      maxBodyBytes: "100",
    });
    // The tunnel's connection already fills the one connection allowed: visitors get 429 ...
    assert.equal((await visit(gateway.port, DOMAIN, "/")).status, 429);
    // ... but the admin API answers on such connections, past the rate, with bodies past 100 B.
    const admin = { authorization: `Bearer ${adminApiKey}`, "content-type": "application/json" };
    for (let i = 0; i < 3; i += 1) {
      const body =
        JSON.stringify({ domain: `other${i}.example.test`, memo: "m".repeat(500) }) + " ".repeat(2000);
      const registered = await visit(gateway.port, "gateway.test", "/api/v1/admin/domains/register", {
        method: "POST",
        headers: admin,
        body,
      });
      assert.equal(registered.status, 200, registered.body.toString());
    }
    // A second tunnel (a further connection from the same address) connects and serves.
    const key = await gateway.register("second.example.test");
    const backend = await startBackend(t, (_req, res) => res.end("second"));
    await startTestClient(t, gateway, "second.example.test", key, [`web=${backend.url}`]).connected;
    assert.equal(gateway.server.registry.size, 2);
  });
});
