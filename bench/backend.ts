// The benchmark's backend, in its own process: fixed bodies, a long poll, server-sent events and
// a WebSocket echo, as fast as Node's `http` serves them. Prints `{"port": N}` once listening.
import http from "node:http";
import { WebSocketServer } from "ws";
import { seededBody, soakEvent } from "./soak-bodies.js";

const KiB = 1024;
const MiB = 1024 * KiB;
const BODY_1K = Buffer.alloc(KiB, "a");
const BODY_1M = Buffer.alloc(MiB, "b");
const CHUNK = Buffer.alloc(64 * KiB, "c");
/** Long polls waiting for their answer now, and the most at once since `/polls?reset`. */
let pollsWaiting = 0;
let pollsWaitingPeak = 0;

const server = http.createServer((req, res) => {
  const url = new URL(req.url ?? "/", "http://backend");
  switch (url.pathname) {
    case "/1k":
      return send(res, BODY_1K);
    case "/1m":
      return send(res, BODY_1M);
    case "/seeded": {
      // The soak's downloads: a body its visitor can check by digest (soak-bodies.ts).
      let pieces: Buffer[];
      try {
        pieces = seededBody(Number(url.searchParams.get("seed")), Number(url.searchParams.get("bytes")));
      } catch (error) {
        return void res.writeHead(400).end((error as Error).message);
      }
      const length = pieces.reduce((sum, piece) => sum + piece.length, 0);
      res.writeHead(200, { "content-type": "application/octet-stream", "content-length": String(length) });
      for (const piece of pieces) res.write(piece);
      return void res.end();
    }
    case "/stream": {
      const total = Number(url.searchParams.get("mib") ?? "100") * MiB;
      res.writeHead(200, { "content-type": "application/octet-stream", "content-length": String(total) });
      return stream(res, total);
    }
    case "/poll": {
      // A long poll: the answer comes after `ms`, as a chat or notification endpoint would give it.
      pollsWaiting++;
      pollsWaitingPeak = Math.max(pollsWaitingPeak, pollsWaiting);
      let waiting = true;
      const stopWaiting = () => {
        if (waiting) pollsWaiting--;
        waiting = false;
      };
      const timer = setTimeout(
        () => {
          stopWaiting();
          send(res, BODY_1K);
        },
        Number(url.searchParams.get("ms") ?? "1000"),
      );
      res.once("close", () => {
        stopWaiting();
        clearTimeout(timer);
      });
      return;
    }
    case "/polls": {
      // The long polls waiting now and the most at once since `?reset` (the polls really in flight
      // through the tunnel); `?reset` starts the next count.
      const body = Buffer.from(JSON.stringify({ waiting: pollsWaiting, peak: pollsWaitingPeak }));
      if (url.searchParams.has("reset")) pollsWaitingPeak = pollsWaiting;
      return send(res, body);
    }
    case "/sse":
      return events(
        res,
        Number(url.searchParams.get("n") ?? "5"),
        Number(url.searchParams.get("ms") ?? "100"),
      );
    default:
      res.writeHead(404).end();
  }
});

// WebSocket echo on /ws: every message comes back as it was sent.
const sockets = new WebSocketServer({ server, path: "/ws" });
sockets.on("connection", (socket) => {
  socket.on("message", (data, isBinary) => socket.send(data, { binary: isBinary }));
});

function send(res: http.ServerResponse, body: Buffer): void {
  res.writeHead(200, { "content-type": "application/octet-stream", "content-length": String(body.length) });
  res.end(body);
}

/** `count` server-sent events `intervalMs` apart (a slow, chunked response), then the end. */
function events(res: http.ServerResponse, count: number, intervalMs: number): void {
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-store" });
  let sent = 0;
  const timer = setInterval(() => {
    res.write(soakEvent(sent));
    if (++sent === count) {
      clearInterval(timer);
      res.end();
    }
  }, intervalMs);
  res.once("close", () => clearInterval(timer));
}

function stream(res: http.ServerResponse, total: number): void {
  let sent = 0;
  const pump = () => {
    while (sent < total) {
      const chunk = total - sent >= CHUNK.length ? CHUNK : CHUNK.subarray(0, total - sent);
      sent += chunk.length;
      if (!res.write(chunk)) return void res.once("drain", pump);
    }
    res.end();
  };
  pump();
}

server.keepAliveTimeout = 60_000;
server.maxHeadersCount = 100;
server.listen(0, "127.0.0.1", () => {
  const address = server.address();
  process.stdout.write(
    `${JSON.stringify({ port: typeof address === "object" && address ? address.port : 0 })}\n`,
  );
});
process.on("SIGTERM", () => process.exit(0));
