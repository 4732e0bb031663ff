import http2 from "node:http2";
import https from "node:https";
import WebSocket from "ws";
import { seededBodyDigest, seededBodyPath, sha256Hex, soakEventsDigest } from "./soak-bodies.js";

/**
 * The kinds of visitor traffic in a soak, each checked for a complete, correct answer: the
 * SHA-256 of every body against what the backend sent, every WebSocket echo byte for byte.
 */
export type TrafficKind = "small" | "large" | "stream" | "websocket";

/** Weighted mix: mostly small requests, some 1 MiB downloads, event streams and WebSockets. */
export const TRAFFIC_MIX: ReadonlyArray<readonly [TrafficKind, number]> = [
  ["small", 70],
  ["large", 10],
  ["stream", 10],
  ["websocket", 10],
];

const KiB = 1024;
const SMALL_BYTES = KiB;
const LARGE_BYTES = 1024 * KiB;
const STREAM_EVENTS = 5;
const WEBSOCKET_MESSAGES = 5;
/** Per exchange: tells a hung exchange from a slow one on a busy machine, with a wide margin. */
const TIMEOUT_MS = 60_000;

export interface Visitor {
  /** One exchange of `kind`; rejects with what went wrong (status, size, content, timeout). */
  run(kind: TrafficKind, http2: boolean): Promise<void>;
  /** HTTP/1.1 requests sent again because the idle keep-alive connection they went out on was closed. */
  readonly resent: number;
  /** HTTP/1.1 requests sent, resends included. */
  readonly http1Requests: number;
  /** Bodies whose SHA-256 matched what the backend sent. */
  readonly bodiesVerified: number;
  close(): void;
}

/**
 * A visitor of one tunnelled domain through the gateway at 127.0.0.1:`port`: HTTP/1.1 over a
 * keep-alive pool, HTTP/2 over one session (reopened when it ends), WebSockets over HTTP/1.1.
 */
export function createVisitor(port: number, domain: string): Visitor {
  const agent = new https.Agent({ keepAlive: true, maxSockets: 256, rejectUnauthorized: false });
  let session: http2.ClientHttp2Session | undefined;
  const sessionOf = () => {
    if (session && !session.closed && !session.destroyed) return session;
    const opened = http2.connect(`https://127.0.0.1:${port}`, {
      servername: domain,
      rejectUnauthorized: false,
    });
    opened.on("error", () => undefined);
    opened.on("goaway", () => opened.close());
    return (session = opened);
  };
  let resent = 0;
  let http1Requests = 0;
  let bodiesVerified = 0;
  // RFC 9112 §9.3.1, and Node's advice for `request.reusedSocket`: a request on a reused idle
  // connection that the server closed at the same moment is sent again, as browsers do.
  const fetchHttp1 = (path: string) => {
    http1Requests++;
    return getHttp1(agent, port, domain, path).catch((error: unknown) => {
      if (!(error instanceof IdleConnectionClosed)) throw error;
      resent++;
      http1Requests++;
      return getHttp1(false, port, domain, path);
    });
  };
  const fetchBody = (path: string, overHttp2: boolean) =>
    overHttp2 ? getHttp2(sessionOf(), domain, path) : fetchHttp1(path);
  const expectDigest = (body: Buffer, digest: string, what: string) => {
    const got = sha256Hex([body]);
    if (got !== digest)
      throw new Error(
        `${what}: ${body.length} bytes with SHA-256 ${got.slice(0, 16)}…, sent ${digest.slice(0, 16)}…`,
      );
    bodiesVerified++;
  };
  const download = async (bytes: number, overHttp2: boolean) => {
    const seed = nextSeed++;
    const body = await fetchBody(seededBodyPath(seed, bytes), overHttp2);
    expectDigest(body, seededBodyDigest(seed, bytes), `body of ${bytes} bytes, seed ${seed}`);
  };
  return {
    get resent() {
      return resent;
    },
    get http1Requests() {
      return http1Requests;
    },
    get bodiesVerified() {
      return bodiesVerified;
    },
    async run(kind, overHttp2) {
      switch (kind) {
        case "small":
          return download(SMALL_BYTES, overHttp2);
        case "large":
          return download(LARGE_BYTES, overHttp2);
        case "stream": {
          const body = await fetchBody(`/sse?n=${STREAM_EVENTS}&ms=100`, overHttp2);
          return expectDigest(
            body,
            soakEventsDigest(STREAM_EVENTS),
            `event stream of ${STREAM_EVENTS} events`,
          );
        }
        case "websocket":
          return echoOverWebSocket(port, domain);
      }
    },
    close() {
      agent.destroy();
      session?.close();
    },
  };
}

/** Seeds of the downloads of every visitor of this process: each download gets its own body. */
let nextSeed = 0;

class IdleConnectionClosed extends Error {}

function getHttp1(agent: https.Agent | false, port: number, domain: string, path: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = https.get(
      {
        host: "127.0.0.1",
        port,
        path,
        servername: domain,
        headers: { host: domain },
        agent,
        rejectUnauthorized: false,
      },
      (res) => {
        answered = true;
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("error", reject);
        res.on("end", () =>
          res.statusCode === 200
            ? resolve(Buffer.concat(chunks))
            : reject(new Error(`status ${res.statusCode}`)),
        );
      },
    );
    req.setTimeout(TIMEOUT_MS, () => req.destroy(new Error("timed out")));
    req.on("error", (error: NodeJS.ErrnoException) =>
      reject(
        req.reusedSocket && error.code === "ECONNRESET" && !answered
          ? new IdleConnectionClosed(error.message, { cause: error })
          : error,
      ),
    );
  });
}

function getHttp2(session: http2.ClientHttp2Session, domain: string, path: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ":path": path, ":authority": domain });
    stream.setTimeout(TIMEOUT_MS, () => stream.close(http2.constants.NGHTTP2_CANCEL));
    let status = 0;
    const chunks: Buffer[] = [];
    stream.on("response", (headers) => (status = Number(headers[":status"])));
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    stream.on("error", reject);
    stream.on("close", () => {
      if (stream.rstCode !== http2.constants.NGHTTP2_NO_ERROR)
        reject(new Error(`stream reset ${stream.rstCode}`));
      else if (status !== 200) reject(new Error(`status ${status}`));
      else resolve(Buffer.concat(chunks));
    });
  });
}

/** Opens a WebSocket, sends messages one by one and checks each echo, then closes cleanly. */
function echoOverWebSocket(port: number, domain: string): Promise<void> {
  return new Promise((resolve, reject) => {
    // ws hands `servername` on to tls.connect although its typings omit it.
    const connectOptions: WebSocket.ClientOptions & { servername: string } = {
      headers: { host: domain },
      servername: domain,
      rejectUnauthorized: false,
      handshakeTimeout: TIMEOUT_MS,
    };
    const socket = new WebSocket(`wss://127.0.0.1:${port}/ws`, connectOptions);
    const timer = setTimeout(() => socket.terminate(), TIMEOUT_MS);
    let echoed = 0;
    const message = (i: number) => `message ${i} ${"x".repeat(100)}`;
    socket.on("open", () => socket.send(message(0)));
    socket.on("message", (data: Buffer) => {
      if (data.toString("utf8") !== message(echoed)) {
        socket.terminate();
        return reject(new Error(`websocket: wrong echo ${echoed}`));
      }
      if (++echoed < WEBSOCKET_MESSAGES) socket.send(message(echoed));
      else socket.close(1000);
    });
    socket.on("error", (error) => reject(error));
    socket.on("close", (code) => {
      clearTimeout(timer);
      if (echoed === WEBSOCKET_MESSAGES && code === 1000) resolve();
      else reject(new Error(`websocket closed (${code}) after ${echoed}/${WEBSOCKET_MESSAGES} echoes`));
    });
  });
}
