// `npx node --import tsx scripts/h2-string-writes.ts`: reproduces node 24's HTTP/2 freed-memory
// write (docs/security.md, "HTTP/2 writes") with node:http2 only, one case per line. Each case
// writes a known message on a server stream over a real TLS connection (or h2c with `--plain`)
// and compares what the client read with what was written; no load, no aborts. A last part has
// concurrent streams, a quarter of them reset by the client while their answers are written:
// aborts alone (lone string writes) corrupt nothing.
//
// What it shows (node 24.21): a `_writev` batch whose chunks include a string and whose last
// chunk is empty loses the string's bytes. Node copies the batch's strings into one native
// allocation owned by the write request; the HTTP/2 stream hands the non-empty chunks to the
// session without that request, and completes the request when it reaches the empty last chunk,
// which frees the copy while the session still holds pointers into it: the frame sent to the
// peer starts with allocator bookkeeping (16 bytes of heap pointers) in place of the string.
// node's HTTP/1.1 code over an HTTP/2 stream produces exactly that batch: head (string) + body
// + `end()`'s empty string, corked in one tick.
import { execFileSync } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import http2, { type Http2ServerRequest, type Http2ServerResponse, type ServerHttp2Stream } from "node:http2";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sendBuffersOnly } from "../src/lib/buffer-writes.js";

const HEAD = "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\n";
const BODY = Buffer.from("hello");
const LATER_MS = 20;

interface Case {
  readonly name: string;
  /** "stream": `write` gets the server's Http2Stream; "compat": node's Http2ServerResponse. */
  readonly api: "stream" | "compat";
  readonly write: (stream: ServerHttp2Stream, res: Http2ServerResponse | undefined) => void;
  /** What the client must read first. */
  readonly expected: string;
}

/** One batch (`_writev`), then the stream ends in the same tick or LATER_MS afterwards. */
const batch =
  (chunks: (string | Buffer)[], end: "now" | "later", buffersOnly = false) =>
  (stream: ServerHttp2Stream) => {
    if (buffersOnly) sendBuffersOnly(stream);
    stream.cork();
    for (const chunk of chunks) stream.write(chunk);
    stream.uncork();
    if (end === "now") stream.end();
    else setTimeout(() => stream.end(), LATER_MS);
  };

/** node's HTTP/1.1 response code writing on the stream, as the peer listener's inner server does. */
const inner = http.createServer((req: IncomingMessage, res: ServerResponse) => {
  req.resume();
  res.writeHead(200, { "content-type": "text/plain", "content-length": BODY.length });
  res.write(BODY);
  res.end();
});
const HTTP1_PREFIX = "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n";
const later = (res: Http2ServerResponse | undefined, then: (res: Http2ServerResponse) => void) =>
  setTimeout(() => res && then(res), LATER_MS);

const CASES: readonly Case[] = [
  {
    name: "batch [string, Buffer, ''], end later",
    api: "stream",
    write: batch([HEAD, BODY, ""], "later"),
    expected: HEAD,
  },
  { name: "batch [string, ''], end later", api: "stream", write: batch([HEAD, ""], "later"), expected: HEAD },
  {
    name: "batch [string, Buffer(0)], end later",
    api: "stream",
    write: batch([HEAD, Buffer.alloc(0)], "later"),
    expected: HEAD,
  },
  {
    name: "batch [string, Buffer, ''], end in the same tick",
    api: "stream",
    write: batch([HEAD, BODY, ""], "now"),
    expected: HEAD,
  },
  {
    name: "batch [string, Buffer], end later",
    api: "stream",
    write: batch([HEAD, BODY], "later"),
    expected: HEAD,
  },
  {
    name: "batch [string, string], end later",
    api: "stream",
    write: batch([HEAD, HEAD], "later"),
    expected: HEAD + HEAD,
  },
  {
    name: "batch [Buffer, Buffer, Buffer(0)], end later",
    api: "stream",
    write: batch([Buffer.from(HEAD), BODY, Buffer.alloc(0)], "later"),
    expected: HEAD,
  },
  {
    name: "batch [string, Buffer, ''], end later, sendBuffersOnly",
    api: "stream",
    write: batch([HEAD, BODY, ""], "later", true),
    expected: HEAD,
  },
  {
    name: "http.ServerResponse on the stream: writeHead, write(Buffer), end()",
    api: "stream",
    write: (stream) => inner.emit("connection", stream),
    expected: HTTP1_PREFIX,
  },
  {
    name: "http.ServerResponse on the stream, sendBuffersOnly",
    api: "stream",
    write: (stream) => {
      sendBuffersOnly(stream);
      inner.emit("connection", stream);
    },
    expected: HTTP1_PREFIX,
  },
  { name: "compat: res.end(string)", api: "compat", write: (_s, res) => res?.end(HEAD), expected: HEAD },
  {
    name: "compat: res.write(Buffer), res.write(string), res.end('')",
    api: "compat",
    write: (_s, res) => {
      res?.write(BODY);
      res?.write(HEAD);
      res?.end("");
    },
    expected: `hello${HEAD}`,
  },
  {
    name: "compat: res.write(Buffer), res.write(string), res.write(''), end later",
    api: "compat",
    write: (_s, res) => {
      res?.write(BODY);
      res?.write(HEAD);
      res?.write("");
      later(res, (r) => r.end());
    },
    expected: `hello${HEAD}`,
  },
];

function certificate(): { cert: string; key: string } {
  const dir = mkdtempSync(join(tmpdir(), "h2-string-writes-"));
  try {
    execFileSync(
      "openssl",
      [
        ...["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"],
        ...["-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem"), "-days", "1"],
        ...["-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1"],
      ],
      { stdio: "ignore" },
    );
    return {
      cert: readFileSync(join(dir, "cert.pem"), "utf8"),
      key: readFileSync(join(dir, "key.pem"), "utf8"),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const plain = process.argv.includes("--plain");
const ROUNDS = 20;
const tls = plain ? undefined : certificate();
let current: Case | undefined;

async function serve(api: Case["api"]): Promise<{ server: http2.Http2Server; port: number }> {
  const server = tls ? http2.createSecureServer(tls) : http2.createServer();
  if (api === "stream")
    server.on("stream", (stream) => {
      stream.on("error", () => {});
      stream.respond({ ":status": 200 });
      current?.write(stream, undefined);
    });
  else
    server.on("request", (_req: Http2ServerRequest, res: Http2ServerResponse) =>
      current?.write(res.stream, res),
    );
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return { server, port: (server.address() as AddressInfo).port };
}

console.log(`node ${process.version}, ${tls ? "TLS" : "h2c"}, ${ROUNDS} rounds per case`);
for (const testCase of CASES) {
  current = testCase;
  const { server, port } = await serve(testCase.api);
  const session = http2.connect(`${tls ? "https" : "http"}://127.0.0.1:${port}`, { ca: tls?.cert });
  session.on("error", () => {});
  let wrong = 0;
  let sample = "";
  for (let round = 0; round < ROUNDS; round++) {
    const stream = session.request({ ":method": "POST", ":path": "/" }, { endStream: false });
    const chunks: Buffer[] = [];
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    stream.on("error", () => {});
    stream.end("GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
    await once(stream, "close");
    const text = Buffer.concat(chunks).toString("latin1");
    if (!text.startsWith(testCase.expected)) {
      wrong++;
      sample ||= JSON.stringify(text.slice(0, 24));
    }
  }
  console.log(
    `${wrong === 0 ? "ok     " : "CORRUPT"} ${wrong}/${ROUNDS}  ${testCase.name}${sample && `  e.g. ${sample}`}`,
  );
  session.destroy();
  server.close();
}

/** WAVES waves of WAVE concurrent streams on one session; every 4th is reset right after it is sent. */
async function aborts(api: "lone string" | "http.ServerResponse"): Promise<string> {
  const WAVES = 50;
  const WAVE = 20;
  const server = tls ? http2.createSecureServer(tls) : http2.createServer();
  server.on("stream", (stream) => {
    stream.on("error", () => {});
    stream.respond({ ":status": 200 });
    if (api === "lone string") setImmediate(() => !stream.destroyed && stream.end(HEAD));
    else inner.emit("connection", stream);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  const session = http2.connect(`${tls ? "https" : "http"}://127.0.0.1:${port}`, { ca: tls?.cert });
  session.on("error", () => {});
  let answered = 0;
  let wrong = 0;
  for (let wave = 0; wave < WAVES; wave++) {
    const exchanges = Array.from({ length: WAVE }, async (_, i) => {
      const stream = session.request({ ":method": "POST", ":path": "/" }, { endStream: false });
      const chunks: Buffer[] = [];
      stream.on("data", (chunk: Buffer) => chunks.push(chunk));
      stream.on("error", () => {});
      stream.end("GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
      if (i % 4 === 3) setImmediate(() => stream.close(http2.constants.NGHTTP2_CANCEL));
      await once(stream, "close");
      if (i % 4 === 3) return;
      answered++;
      const expected = api === "lone string" ? HEAD : HTTP1_PREFIX;
      if (!Buffer.concat(chunks).toString("latin1").startsWith(expected)) wrong++;
    });
    await Promise.all(exchanges);
  }
  session.destroy();
  server.close();
  return `${wrong === 0 ? "ok     " : "CORRUPT"} ${wrong}/${answered}  ${api} answers, a quarter of the streams reset`;
}
console.log(await aborts("lone string"));
console.log(await aborts("http.ServerResponse"));
inner.close();
