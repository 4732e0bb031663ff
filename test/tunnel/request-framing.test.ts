import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import http2 from "node:http2";
import { describe, it, type TestContext } from "node:test";
import fc from "fast-check";
import { startBackend } from "../helpers/backend.js";
import { startGateway, startTestClient } from "../helpers/gateway.js";
import { Http1ResponseReader } from "../helpers/http1-exchange.js";
import { rawVisitor, type RawVisitor } from "../helpers/raw-visitor.js";
import { tlsFixture } from "../helpers/tls-fixture.js";

const DOMAIN = "app.example.test";
const METHODS = ["GET", "HEAD", "DELETE", "OPTIONS", "TRACE", "POST", "PUT", "PATCH"] as const;
/** The body of issue 12 §1: a whole request, which an unframed write hands the backend as its own. */
const SMUGGLED = Buffer.from(`GET /smuggled HTTP/1.1\r\nHost: internal\r\n\r\n`, "latin1");
/** Connection tokens, among them the framing and routing fields no Connection may remove. */
const TOKENS = ["content-length", "transfer-encoding", "host", "keep-alive", "x-secret", "te", "close"];

interface Seen {
  readonly method: string;
  readonly url: string;
  readonly digest: string;
}

interface Sent {
  readonly method: string;
  readonly body: Buffer;
  readonly framing: "length" | "chunked" | "none";
  readonly connection: readonly string[];
  readonly chunkBytes: number;
}

const digest = (body: Buffer) => createHash("sha256").update(body).digest("hex");

const bodyArbitrary = fc.oneof(
  fc.constant(SMUGGLED),
  fc.constant(Buffer.alloc(0)),
  fc.uint8Array({ minLength: 1, maxLength: 600 }).map((bytes) => Buffer.from(bytes)),
);

const requestArbitrary = (framings: ReadonlyArray<Sent["framing"]>) =>
  fc
    .record({
      method: fc.constantFrom(...METHODS),
      body: bodyArbitrary,
      framing: fc.constantFrom(...framings),
      connection: fc.subarray(TOKENS),
      chunkBytes: fc.integer({ min: 1, max: 128 }),
    })
    .map((sent): Sent => sent);

/**
 * The backend records every request it parses and answers with what it saw in headers (so that
 * HEAD responses carry it too): the differential oracle is "one request per visitor request,
 * with exactly its method and body bytes, and the answer reaches that visitor".
 */
async function tunnelTo(t: TestContext): Promise<{ port: number; seen: Seen[] }> {
  const seen: Seen[] = [];
  const backend = await startBackend(t, (req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const record = { method: req.method ?? "", url: req.url ?? "", digest: digest(Buffer.concat(chunks)) };
      seen.push(record);
      res.writeHead(200, {
        "x-seen-url": record.url,
        "x-seen-method": record.method,
        "x-seen-digest": record.digest,
      });
      res.end("ok");
    });
  });
  const gateway = await startGateway(t);
  const key = await gateway.register(DOMAIN);
  await startTestClient(t, gateway, DOMAIN, key, [`web=${backend.url}`]).connected;
  return { port: gateway.port, seen };
}

function http1Bytes(sent: Sent, path: string): Buffer {
  const lines = [`${sent.method} ${path} HTTP/1.1`, `Host: ${DOMAIN}`];
  if (sent.connection.length > 0) lines.push(`Connection: ${sent.connection.join(", ")}`);
  const body = sent.framing === "none" ? Buffer.alloc(0) : sent.body;
  if (sent.framing === "length") lines.push(`Content-Length: ${body.length}`);
  if (sent.framing !== "chunked") return Buffer.concat([Buffer.from(`${lines.join("\r\n")}\r\n\r\n`), body]);
  lines.push("Transfer-Encoding: chunked");
  const parts: Buffer[] = [Buffer.from(`${lines.join("\r\n")}\r\n\r\n`)];
  for (let offset = 0; offset < body.length; offset += sent.chunkBytes) {
    const chunk = body.subarray(offset, offset + sent.chunkBytes);
    parts.push(Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from("\r\n"));
  }
  parts.push(Buffer.from("0\r\n\r\n"));
  return Buffer.concat(parts);
}

/** The body the backend must see: none without framing (RFC 9112 §6.3: the bytes would be the next request). */
const expectedBody = (sent: Sent) => (sent.framing === "none" ? Buffer.alloc(0) : sent.body);

let runs = 0;

function assertOneEach(seen: Seen[], expected: ReadonlyArray<{ path: string; sent: Sent }>): void {
  assert.deepEqual(
    seen.map((s) => s.url).sort(),
    expected.map((e) => e.path).sort(),
    "the backend saw exactly one request per visitor request",
  );
  for (const { path, sent } of expected) {
    const record = seen.find((s) => s.url === path);
    assert.equal(record?.method, sent.method, path);
    assert.equal(record?.digest, digest(expectedBody(sent)), `${path}: body bytes`);
  }
}

describe("request framing through the tunnel (issue 12 §1, differential)", () => {
  it("HTTP/1.1: one backend request per visitor request, with its exact body, whatever Connection names", async (t) => {
    const { port, seen } = await tunnelTo(t);
    await fc.assert(
      fc.asyncProperty(
        fc.array(requestArbitrary(["length", "chunked", "none"]), { minLength: 1, maxLength: 4 }),
        async (requests) => {
          seen.length = 0;
          const run = ++runs;
          const expected = requests.map((sent, i) => ({ path: `/r/${run}/${i}`, sent }));
          let visitor: RawVisitor | undefined;
          let reader: Http1ResponseReader | undefined;
          try {
            for (const { path, sent } of expected) {
              if (!visitor || visitor.socket.destroyed || visitor.socket.readableEnded) {
                visitor?.socket.destroy();
                visitor = await rawVisitor(port, DOMAIN);
                reader = new Http1ResponseReader(visitor.socket);
              }
              visitor.socket.write(http1Bytes(sent, path));
              const response = await (reader as Http1ResponseReader).next(sent.method);
              assert.equal(response.status, 200, `${path}: ${JSON.stringify(response.headers)}`);
              assert.equal(response.headers["x-seen-url"], path, "the visitor got its own response");
              assert.equal(response.headers["x-seen-digest"], digest(expectedBody(sent)));
              assert.equal(response.headers["x-secret"], undefined);
              if (sent.connection.includes("close")) {
                visitor.socket.destroy();
                visitor = undefined;
              }
            }
          } finally {
            visitor?.socket.destroy();
          }
          assertOneEach(seen, expected);
        },
      ),
      { numRuns: 60 },
    );
    // A smuggled request parsed after the last response would show here.
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.deepEqual(
      seen.filter((s) => !s.url.startsWith("/r/")),
      [],
    );
  });

  it("HTTP/2: one backend request per visitor request, with its exact body, declared or not", async (t) => {
    const { port, seen } = await tunnelTo(t);
    await fc.assert(
      fc.asyncProperty(
        fc.array(requestArbitrary(["length", "none"]), { minLength: 1, maxLength: 4 }),
        async (requests) => {
          seen.length = 0;
          const run = ++runs;
          // On HTTP/2 a body needs no declared length: "none" streams it without Content-Length.
          const expected = requests.map((sent, i) => ({
            path: `/r/${run}/${i}`,
            sent: sent.framing === "none" ? { ...sent, framing: "chunked" as const } : sent,
          }));
          const session = http2.connect(`https://127.0.0.1:${port}`, {
            ca: tlsFixture().cert,
            servername: DOMAIN,
          });
          session.on("error", () => undefined);
          try {
            await Promise.all(expected.map(({ path, sent }) => visitHttp2(session, path, sent)));
          } finally {
            session.destroy();
          }
          assertOneEach(seen, expected);
        },
      ),
      { numRuns: 40 },
    );
  });
});

async function visitHttp2(session: http2.ClientHttp2Session, path: string, sent: Sent): Promise<void> {
  const headers: http2.OutgoingHttpHeaders = { ":method": sent.method, ":path": path, ":authority": DOMAIN };
  if (sent.framing === "length") headers["content-length"] = String(sent.body.length);
  if (sent.connection.includes("te")) headers.te = "trailers";
  const stream = session.request(headers, { endStream: sent.body.length === 0 });
  for (let offset = 0; offset < sent.body.length; offset += sent.chunkBytes) {
    stream.write(sent.body.subarray(offset, offset + sent.chunkBytes));
  }
  if (sent.body.length > 0) stream.end();
  const responseHeaders = await new Promise<http2.IncomingHttpHeaders>((resolve, reject) => {
    stream.once("response", resolve);
    stream.once("error", reject);
  });
  stream.resume();
  await new Promise((resolve) => stream.once("close", resolve));
  assert.equal(responseHeaders[":status"], 200, path);
  assert.equal(responseHeaders["x-seen-url"], path, "the visitor got its own response");
  assert.equal(responseHeaders["x-seen-digest"], digest(sent.body));
}
