import https from "node:https";
import { tlsFixture } from "./tls-fixture.js";

/** How a visitor's request ended, with the times (Date.now()) a fault test needs. */
export interface TimedVisit {
  /** "complete": the whole response arrived; "aborted": the response broke off after its head; "failed": no response head. */
  readonly outcome: "complete" | "aborted" | "failed";
  /** Response status, 0 when no head arrived. */
  readonly status: number;
  readonly startedAtMs: number;
  /** When the response head arrived, undefined when none did. */
  readonly headAtMs: number | undefined;
  readonly endedAtMs: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly bodyBytes: number;
}

export interface PendingVisit {
  /** Resolves once the response head arrived (never rejects; unresolved when none arrives). */
  readonly head: Promise<void>;
  /** Resolves (never rejects) when the request ended in any way. */
  readonly done: Promise<TimedVisit>;
}

/**
 * An HTTP/1.1 visitor request to the gateway on 127.0.0.1:`port` that records when its head
 * arrived and how it ended, instead of failing on a broken response: fault tests assert on
 * exactly that difference (a 502 page before the head, an abort after it).
 */
export function timedVisit(port: number, host: string, path: string, timeoutMs = 30_000): PendingVisit {
  const startedAtMs = Date.now();
  let headAtMs: number | undefined;
  let status = 0;
  let headers: TimedVisit["headers"] = {};
  let bodyBytes = 0;
  let gotHead!: () => void;
  const head = new Promise<void>((resolve) => (gotHead = resolve));
  const done = new Promise<TimedVisit>((resolve) => {
    let settled = false;
    const settle = (outcome: TimedVisit["outcome"]) => {
      if (settled) return;
      settled = true;
      resolve({ outcome, status, startedAtMs, headAtMs, endedAtMs: Date.now(), headers, bodyBytes });
    };
    const req = https.request({
      host: "127.0.0.1",
      port,
      path,
      servername: host,
      headers: { host },
      ca: tlsFixture().cert,
      agent: false,
      timeout: timeoutMs,
    });
    req.on("timeout", () => req.destroy(new Error("visit timed out")));
    req.on("error", () => settle(headAtMs === undefined ? "failed" : "aborted"));
    req.on("response", (res) => {
      headAtMs = Date.now();
      status = res.statusCode ?? 0;
      headers = res.headers;
      gotHead();
      res.on("data", (chunk: Buffer) => (bodyBytes += chunk.length));
      res.on("error", () => settle("aborted"));
      res.on("aborted", () => settle("aborted"));
      res.on("end", () => settle("complete"));
      res.on("close", () => settle(res.complete ? "complete" : "aborted"));
    });
    req.end();
  });
  return { head, done };
}
