import assert from "node:assert/strict";
import https from "node:https";
import { describe, it } from "node:test";
import { pollUntil } from "../helpers/poll-until.js";
import { pgSkip } from "../helpers/postgres.js";
import { tlsFixture } from "../helpers/tls-fixture.js";
import { startRelayPair } from "./peer-cluster.js";

const DOMAIN = "aborts.example.test";
const VISITORS = 36;
/** How long the backend holds each response: every request is in flight when the aborts come. */
const BACKEND_DELAY_MS = 600;

/** Paths the backend has received, and waits for one to arrive. */
function arrivals() {
  const seen = new Set<string>();
  const waiters = new Map<string, () => void>();
  return {
    arrived(path: string): void {
      seen.add(path);
      waiters.get(path)?.();
    },
    of(path: string): Promise<void> {
      return seen.has(path) ? Promise.resolve() : new Promise((resolve) => waiters.set(path, resolve));
    },
  };
}

/**
 * One visitor's request to B over its own keep-alive connection; `abortAfterMs` after `reached`
 * (the backend has the request, so both servers have it in flight) closes it mid-request.
 */
function request(port: number, index: number, abortAfterMs?: number, reached?: Promise<void>) {
  return new Promise<{ status: number; body: string } | "aborted">((resolve, reject) => {
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
    const req = https.request({
      host: "127.0.0.1",
      port,
      path: `/slow/${index}`,
      headers: { host: DOMAIN },
      servername: DOMAIN,
      ca: tlsFixture().cert,
      agent,
      timeout: 30_000,
    });
    req.on("timeout", () => req.destroy(new Error(`visitor ${index} timed out`)));
    req.on("error", (error) => (abortAfterMs === undefined ? reject(error) : resolve("aborted")));
    req.on("response", (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => {
        agent.destroy();
        resolve({ status: res.statusCode ?? 0, body });
      });
    });
    req.end();
    if (abortAfterMs !== undefined)
      void (reached ?? Promise.resolve()).then(() =>
        setTimeout(() => {
          // As wrk does at the end of a run: the visitor's connection closes under its request.
          req.socket?.destroy();
          req.destroy();
          agent.destroy();
        }, abortAfterMs),
      );
  });
}

/** What the backend answers to a load request: its URL, padded to 1 KiB (the benchmarks' body). */
const loadBody = (url: string) => `answer to ${url} `.padEnd(1024, "x");
const LOAD_CONNECTIONS = 40;
const LOAD_MS = 8_000;
/** Load goes on past LOAD_MS until this many answers (a slow machine), up to LOAD_LIMIT_MS. */
const MIN_ANSWERED = 1000;
const LOAD_LIMIT_MS = 120_000;

/**
 * Closed-loop keep-alive load on B (as wrk's) for LOAD_MS and at least MIN_ANSWERED answers (at
 * most LOAD_LIMIT_MS): each request's answer is checked; every 25th request of a connection is
 * cut off mid-flight with its connection. Resolves with the
 * answers that were not a 200 with the right body, and how many requests were answered.
 */
async function relayedLoad(port: number): Promise<{ wrong: string[]; answered: number }> {
  const agent = new https.Agent({ keepAlive: true, maxSockets: LOAD_CONNECTIONS });
  const wrong: string[] = [];
  let answered = 0;
  const start = Date.now();
  const going = () =>
    Date.now() - start < LOAD_MS || (answered < MIN_ANSWERED && Date.now() - start < LOAD_LIMIT_MS);
  const loop = async (connection: number) => {
    for (let n = 0; going(); n++) {
      const path = `/load/${connection}/${n}`;
      const abort = n % 25 === 24;
      const answer = await new Promise<{ status: number; body: string } | undefined>((resolve) => {
        const req = https.request({
          host: "127.0.0.1",
          port,
          path,
          headers: { host: DOMAIN },
          servername: DOMAIN,
          ca: tlsFixture().cert,
          agent,
          timeout: 30_000,
        });
        req.on("timeout", () => req.destroy(new Error("timed out")));
        req.on("error", (error) => resolve(abort ? undefined : { status: 0, body: String(error) }));
        req.on("response", (res) => {
          let body = "";
          res.setEncoding("utf8");
          res.on("data", (chunk: string) => (body += chunk));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
          res.on("aborted", () =>
            resolve(abort ? undefined : { status: res.statusCode ?? 0, body: "aborted" }),
          );
        });
        req.end();
        if (abort) setImmediate(() => req.socket?.destroy());
      });
      if (answer === undefined) continue;
      answered++;
      if (answer.status !== 200 || answer.body !== loadBody(path))
        wrong.push(`${path}: ${answer.status} ${answer.body.slice(0, 80)}`);
    }
  };
  await Promise.all(Array.from({ length: LOAD_CONNECTIONS }, (_, i) => loop(i)));
  agent.destroy();
  return { wrong, answered };
}

describe("visitors aborting relayed requests (docs/scale-out.md)", { skip: pgSkip() }, () => {
  it("a visitor closing its connection mid-request fails no other visitor's relayed request, and is logged as client_abort on both servers", async (t) => {
    const reached = arrivals();
    const { a, b } = await startRelayPair(t, DOMAIN, (req, res) => {
      if (req.url === "/") return res.end("ready");
      if (req.url?.startsWith("/load/")) return res.end(loadBody(req.url));
      reached.arrived(req.url ?? "");
      setTimeout(() => {
        if (res.destroyed) return;
        res.writeHead(200, { "content-type": "text/plain" });
        res.end(`answer to ${req.url}`);
      }, BACKEND_DELAY_MS);
    });

    for (let round = 0; round < 3; round++) {
      const results = await Promise.all(
        Array.from({ length: VISITORS }, (_, i) =>
          i % 3 === 0
            ? request(b.httpsPort, round * 1000 + i, (i % 7) * 40, reached.of(`/slow/${round * 1000 + i}`))
            : request(b.httpsPort, round * 1000 + i),
        ),
      );
      results.forEach((result, i) => {
        if (i % 3 === 0) return;
        assert.deepEqual(
          result,
          { status: 200, body: `answer to /slow/${round * 1000 + i}` },
          `round ${round}, visitor ${i} (not aborted)`,
        );
      });
    }
    // Each abort is the visitor's own on both servers: status 0 and client_abort on B (the
    // relaying server) and on A (the holder, whose tunnel stream the abort cancelled); no 502.
    const aborted = (lines: ReadonlyArray<Record<string, unknown>>) =>
      lines.filter((line) => line.msg === "request" && String(line.path).startsWith("/slow/"));
    await pollUntil(
      () =>
        aborted(b.process.lines).length === 3 * VISITORS && aborted(a.process.lines).length === 3 * VISITORS,
      10_000,
      () => "not every request was logged on both servers",
    );
    for (const [name, server] of [
      ["B", b],
      ["A", a],
    ] as const) {
      const failed = aborted(server.process.lines).filter((line) => line.status !== 200);
      assert.equal(failed.length, VISITORS, `${name}: one record per aborted request`);
      for (const line of failed) assert.deepEqual([line.status, line.error], [0, "client_abort"], name);
      const errors = server.process.lines.filter((line) => line.level === "error" || line.level === "warn");
      assert.deepEqual(errors, [], `${name} logged no warning nor error`);
    }
  });

  it("under keep-alive load with visitors leaving mid-request, every other relayed request answers 200 with its own body", async (t) => {
    const { b } = await startRelayPair(t, DOMAIN, (req, res) => res.end(loadBody(req.url ?? "/")));
    const { wrong, answered } = await relayedLoad(b.httpsPort);
    // Not a speed: the load goes on until MIN_ANSWERED, so fewer means the relay stalled.
    assert.ok(answered >= MIN_ANSWERED, `only ${answered} relayed requests answered in ${LOAD_LIMIT_MS} ms`);
    assert.deepEqual(wrong, [], `${wrong.length} of ${answered} relayed requests went wrong`);
    const failed = b.process.lines.filter((line) => line.msg === "request" && line.error === "tunnel_closed");
    assert.deepEqual(failed, [], "B logged no relay failure");
  });
});
