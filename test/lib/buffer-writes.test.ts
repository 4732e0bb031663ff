import assert from "node:assert/strict";
import { once } from "node:events";
import http from "node:http";
import http2, { type ClientHttp2Stream, type ServerHttp2Stream } from "node:http2";
import type { AddressInfo } from "node:net";
import { describe, it, type TestContext } from "node:test";
import { sendBuffersOnly } from "../../src/lib/buffer-writes.js";
import { tlsFixture } from "../helpers/tls-fixture.js";

const ROUNDS = 10;

/** An HTTP/2 server over TLS and a client session to it, both closed when the test ends. */
async function link(t: TestContext, onStream: (stream: ServerHttp2Stream) => void) {
  const server = http2.createSecureServer(tlsFixture());
  server.on("stream", (stream) => {
    stream.on("error", () => {});
    onStream(stream);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const session = http2.connect(`https://127.0.0.1:${(server.address() as AddressInfo).port}`, {
    ca: tlsFixture().cert,
  });
  session.on("error", () => {});
  t.after(() => {
    session.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return session;
}

async function received(stream: ClientHttp2Stream | ServerHttp2Stream): Promise<string> {
  const chunks: Buffer[] = [];
  stream.on("data", (chunk: Buffer) => chunks.push(chunk));
  await once(stream, "end");
  return Buffer.concat(chunks).toString("latin1");
}

// node's HTTP/1.1 code corks a message's head (a string), its body and end()'s empty chunk into
// one batch; node 24 sent heap memory in place of such a head (src/lib/buffer-writes.ts).
describe("sendBuffersOnly (HTTP/1.1 messages on HTTP/2 streams)", () => {
  it("an HTTP/1.1 response written on a server stream reaches the client byte for byte", async (t) => {
    const inner = http.createServer((req, res) => {
      req.resume();
      res.writeHead(200, { "content-type": "text/plain", "content-length": 5 });
      res.write(Buffer.from("hello"));
      res.end();
    });
    t.after(() => inner.close());
    const session = await link(t, (stream) => {
      stream.respond({ ":status": 200 });
      sendBuffersOnly(stream);
      inner.emit("connection", stream);
    });
    for (let round = 0; round < ROUNDS; round++) {
      const stream = session.request({ ":method": "POST", ":path": "/" }, { endStream: false });
      stream.end("GET /r HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
      const text = await received(stream);
      assert.match(
        text,
        /^HTTP\/1\.1 200 OK\r\ncontent-type: text\/plain\r\ncontent-length: 5\r\n.*\r\n\r\nhello$/s,
      );
    }
  });

  it("an HTTP/1.1 request written on a client stream reaches the server byte for byte", async (t) => {
    const heads: string[] = [];
    let headArrived = () => {};
    const session = await link(t, (stream) => {
      let text = "";
      stream.on("data", (chunk: Buffer) => {
        text += chunk.toString("latin1");
        if (!text.endsWith("\r\n\r\nhello")) return;
        heads.push(text);
        headArrived();
        stream.respond({ ":status": 200 }, { endStream: true });
      });
    });
    for (let round = 0; round < ROUNDS; round++) {
      const stream = session.request({ ":method": "POST", ":path": "/" }, { endStream: false });
      sendBuffersOnly(stream);
      const arrived = new Promise<void>((resolve) => (headArrived = resolve));
      const req = http.request({
        method: "POST",
        path: `/r/${round}`,
        headers: { host: "x", "content-length": 5 },
        createConnection: () => stream,
      });
      req.on("error", () => {});
      req.write(Buffer.from("hello"));
      req.end();
      await arrived;
      assert.equal(
        heads[round],
        `POST /r/${round} HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\nConnection: close\r\n\r\nhello`,
      );
      stream.destroy();
    }
  });
});
