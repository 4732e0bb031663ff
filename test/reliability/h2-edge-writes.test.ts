import assert from "node:assert/strict";
import { once } from "node:events";
import http2, { type ClientHttp2Session } from "node:http2";
import { describe, it } from "node:test";
import { errorPage } from "../../src/server/proxy/error-response.js";
import { startBackend } from "../helpers/backend.js";
import { startGateway, startTestClient } from "../helpers/gateway.js";
import { tlsFixture } from "../helpers/tls-fixture.js";

const DOMAIN = "writes.example.test";
/** Registered, but no client ever connects for it: every request gets the 502 page. */
const ORPHAN = "orphan.example.test";
const SESSIONS = 4;
const LOOPS_PER_SESSION = 6;
const LOAD_MS = 6_000;
/** Every ABORT_EVERY-th request of a loop is reset by its visitor right after it is sent. */
const ABORT_EVERY = 4;
/** Every SESSION_DROP_EVERY-th request of a loop takes its whole connection down mid-flight. */
const SESSION_DROP_EVERY = 97;

/** What the backend answers to /text/<n>: a string body of 1–3 KiB naming its URL. */
const textBody = (url: string) => `answer to ${url} `.padEnd(1024 * (1 + (url.length % 3)), "x");

interface Kind {
  readonly host: string;
  readonly path: (n: number) => string;
  readonly accept: string;
  /** The status and body the server produces for this request (request id from its answer). */
  readonly expected: (path: string, requestId: string) => { status: number; body: string };
}

const KINDS: readonly Kind[] = [
  {
    host: DOMAIN,
    path: (n) => `/text/${n}`,
    accept: "*/*",
    expected: (path) => ({ status: 200, body: textBody(path) }),
  },
  ...(["text/html", "application/json"] as const).flatMap((accept): Kind[] => [
    {
      host: "nobody.example.test",
      path: (n) => `/missing/${n}`,
      accept,
      expected: (_path, id) => ({ status: 404, body: errorPage("not_found", id, accept).body }),
    },
    {
      host: ORPHAN,
      path: (n) => `/orphan/${n}`,
      accept,
      expected: (_path, id) => ({ status: 502, body: errorPage("tunnel_unavailable", id, accept).body }),
    },
    {
      host: "gateway.test",
      path: (n) => `/nothing-here/${n}`,
      accept,
      expected: () => ({ status: 404, body: errorPage("not_found", "-", accept).body }),
    },
  ]),
];

type Outcome = { t: "answered"; status: number; body: Buffer; requestId: string } | { t: "gone" };

/** One request on `session`; `abort` resets it as soon as it is sent. */
function exchange(session: ClientHttp2Session, kind: Kind, path: string, abort: boolean): Promise<Outcome> {
  return new Promise((resolve) => {
    const stream = session.request({ ":path": path, ":authority": kind.host, accept: kind.accept });
    let status = 0;
    let requestId = "";
    const chunks: Buffer[] = [];
    stream.on("response", (headers) => {
      status = Number(headers[":status"]);
      requestId = String(headers["x-request-id"] ?? "");
    });
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    stream.on("error", () => {});
    stream.on("close", () => {
      // A stream its session's end closed before any response came was not answered (status 0).
      const complete =
        status !== 0 && stream.rstCode === http2.constants.NGHTTP2_NO_ERROR && stream.readableEnded;
      resolve(complete ? { t: "answered", status, body: Buffer.concat(chunks), requestId } : { t: "gone" });
    });
    if (abort) setImmediate(() => stream.close(http2.constants.NGHTTP2_CANCEL));
  });
}

// A guard (docs/security.md, HTTP/2 writes): node 24 sends freed memory for a string written in a
// batch that ends with an empty chunk. The edge writes its string bodies as a response's only
// write, so this passes; a string written as write(a), write(b), end("") makes it fail.
describe("HTTP/2 visitors and the edge's own writes (docs/security.md, HTTP/2 writes)", () => {
  it("while visitors reset streams and drop connections, every answered HTTP/2 request gets the status and bytes the server produced", async (t) => {
    const gateway = await startGateway(t);
    const backend = await startBackend(t, (req, res) => {
      req.resume();
      res.writeHead(200, { "content-type": "text/plain" });
      res.end(textBody(req.url ?? "/"));
    });
    await gateway.register(ORPHAN);
    const key = await gateway.register(DOMAIN);
    await startTestClient(t, gateway, DOMAIN, key, [`web=${backend.url}`]).connected;

    const sessions = new Set<ClientHttp2Session>();
    t.after(() => {
      for (const session of sessions) session.destroy();
    });
    const connect = async () => {
      const session = http2.connect(`https://127.0.0.1:${gateway.port}`, {
        ca: tlsFixture().cert,
        servername: DOMAIN,
      });
      session.on("error", () => {});
      sessions.add(session);
      session.once("close", () => sessions.delete(session));
      await once(session, "connect");
      return session;
    };

    const wrong: string[] = [];
    let answered = 0;
    const until = Date.now() + LOAD_MS;
    const visitor = async (index: number) => {
      let session = await connect();
      const loops = Array.from({ length: LOOPS_PER_SESSION }, async (_, loop) => {
        for (let n = 0; Date.now() < until; n++) {
          const kind = KINDS[(n + loop) % KINDS.length]!;
          const path = kind.path(index * 100_000 + loop * 10_000 + n);
          const drop = n % SESSION_DROP_EVERY === SESSION_DROP_EVERY - 1;
          const current = session.closed || session.destroyed ? (session = await connect()) : session;
          const pending = exchange(current, kind, path, n % ABORT_EVERY === ABORT_EVERY - 1);
          if (drop) setImmediate(() => current.destroy());
          const outcome = await pending;
          if (outcome.t === "gone") continue;
          answered++;
          const expected = kind.expected(path, outcome.requestId);
          if (outcome.status !== expected.status || !outcome.body.equals(Buffer.from(expected.body)))
            wrong.push(
              `${kind.host}${path} (${kind.accept}): ${outcome.status} ${JSON.stringify(outcome.body.toString("latin1", 0, 48))}`,
            );
        }
      });
      await Promise.all(loops);
    };
    await Promise.all(Array.from({ length: SESSIONS }, (_, i) => visitor(i)));

    t.diagnostic(`${answered} requests answered`);
    assert.ok(answered > 200, `only ${answered} requests answered`);
    assert.deepEqual(
      wrong,
      [],
      `${wrong.length} of ${answered} answers differ from what the server produced`,
    );
  });
});
