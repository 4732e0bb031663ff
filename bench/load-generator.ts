// Load generator in its own process (so that its CPU shows up apart from what it measures), for
// what wrk cannot do: HTTP/2 closed-loop load, a fixed request rate with latencies measured from
// each request's scheduled start (no coordinated omission), and many concurrent long polls.
// Usage: load-generator.ts <closed|rate|poll> <json options>; prints one JSON result line.
import http from "node:http";
import http2 from "node:http2";
import https from "node:https";
import { createHistogram } from "node:perf_hooks";

interface Options {
  readonly url: string;
  /** Host header / :authority and TLS server name. */
  readonly host: string;
  readonly http2: boolean;
  readonly connections: number;
  /** closed: requests in flight per connection. */
  readonly concurrency?: number;
  readonly durationMs?: number;
  /** rate: requests per second. */
  readonly rate?: number;
  /** poll: requests in total, all at once. */
  readonly count?: number;
}

type Request = () => Promise<boolean>;

const [mode, raw] = process.argv.slice(2);
const options = JSON.parse(raw ?? "{}") as Options;
const histogram = createHistogram();
let ok = 0;
let errors = 0;
/** Every request, warm-up included. */
let sent = 0;

const send = options.http2 ? http2Requester(options) : http1Requester(options);
const makeRequest: Request = () => {
  sent++;
  return send();
};
const started = performance.now();
if (mode === "closed") await closedLoop();
else if (mode === "rate") await fixedRate();
else if (mode === "poll") await allAtOnce();
else throw new Error(`unknown mode ${mode}`);
const elapsedMs = performance.now() - started;
process.stdout.write(
  `${JSON.stringify({
    ok,
    errors,
    sent,
    elapsedMs,
    rps: (ok / elapsedMs) * 1000,
    p50Ms: histogram.count ? histogram.percentile(50) / 1e6 : null,
    p99Ms: histogram.count ? histogram.percentile(99) / 1e6 : null,
  })}\n`,
);
process.exit(0);

async function timed(request: Request, startNs = process.hrtime.bigint()): Promise<void> {
  const good = await request().catch(() => false);
  if (good) {
    ok++;
    histogram.record(Math.max(1, Number(process.hrtime.bigint() - startNs)));
  } else {
    errors++;
  }
}

async function closedLoop(): Promise<void> {
  const deadline = performance.now() + (options.durationMs ?? 5000);
  const workers = options.connections * (options.concurrency ?? 1);
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (performance.now() < deadline) await timed(makeRequest);
    }),
  );
}

/** Open loop at `rate` after opening every connection; the first second warms up (JIT) and is not counted. */
async function fixedRate(): Promise<void> {
  const rate = options.rate ?? 1000;
  const intervalNs = 1e9 / rate;
  const warmup = rate;
  const total = warmup + Math.round(((options.durationMs ?? 5000) / 1000) * rate);
  // Every connection open before the clock starts: a stall that puts more requests in flight
  // than the warm-up did would otherwise open new ones, TLS handshakes in the measured seconds.
  await Promise.all(Array.from({ length: options.connections }, () => makeRequest()));
  const origin = process.hrtime.bigint();
  const pending: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const due = origin + BigInt(Math.round(i * intervalNs));
    const waitNs = Number(due - process.hrtime.bigint());
    if (waitNs > 1e6) await new Promise((resolve) => setTimeout(resolve, Math.floor(waitNs / 1e6)));
    // From the scheduled start when late (no coordinated omission), else from the actual send.
    const now = process.hrtime.bigint();
    if (i < warmup) pending.push(makeRequest().then(() => undefined));
    else pending.push(timed(makeRequest, due < now ? due : now));
  }
  await Promise.all(pending);
}

async function allAtOnce(): Promise<void> {
  await Promise.all(Array.from({ length: options.count ?? 1000 }, () => timed(makeRequest)));
}

function http1Requester(o: Options): Request {
  const url = new URL(o.url);
  const secure = url.protocol === "https:";
  const agent = new (secure ? https : http).Agent({ keepAlive: true, maxSockets: o.connections });
  return () =>
    new Promise((resolve) => {
      const req = (secure ? https : http).request(
        {
          host: url.hostname,
          port: url.port,
          path: url.pathname + url.search,
          headers: { host: o.host },
          servername: o.host,
          rejectUnauthorized: false,
          agent,
        },
        (res) => {
          res.on("data", () => undefined);
          res.on("end", () => resolve(res.statusCode === 200));
          res.on("error", () => resolve(false));
        },
      );
      req.on("error", () => resolve(false));
      req.end();
    });
}

function http2Requester(o: Options): Request {
  const url = new URL(o.url);
  const sessions = Array.from({ length: o.connections }, () =>
    http2.connect(`${url.protocol}//${url.host}`, {
      servername: o.host,
      rejectUnauthorized: false,
      settings: { initialWindowSize: 1024 * 1024 },
    }),
  );
  for (const session of sessions) session.on("error", () => undefined);
  let next = 0;
  return () =>
    new Promise((resolve) => {
      const session = sessions[next++ % sessions.length] as http2.ClientHttp2Session;
      const stream = session.request({ ":path": url.pathname + url.search, ":authority": o.host });
      let status = 0;
      stream.on("response", (headers) => (status = Number(headers[":status"])));
      stream.on("data", () => undefined);
      stream.on("end", () => resolve(status === 200));
      stream.on("error", () => resolve(false));
      stream.end();
    });
}
