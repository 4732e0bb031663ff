import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import http2 from "node:http2";
import { describe, it } from "node:test";
import fc from "fast-check";
import type { BackendHandler } from "../helpers/backend.js";
import { Http1ResponseReader } from "../helpers/http1-exchange.js";
import { pgSkip } from "../helpers/postgres.js";
import { rawVisitor } from "../helpers/raw-visitor.js";
import { tlsFixture } from "../helpers/tls-fixture.js";
import { startRelayPair } from "./peer-cluster.js";

const DOMAIN = "headers.example.test";
type Field = readonly [string, string];

/** RFC 9110 §7.6.1 and src/protocol/hop-by-hop.ts: never forwarded, whatever Connection says. */
const ALWAYS_HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "http2-settings",
]);
/** Framing and routing fields a Connection token may not remove. */
const NEVER_HOP_BY_HOP = new Set(["content-length", "host"]);
/** Request fields the gateway sets itself (the visitor's are replaced). */
const SET_BY_GATEWAY = new Set([
  "host",
  "x-forwarded-for",
  "x-forwarded-proto",
  "x-forwarded-host",
  "x-real-ip",
  "forwarded",
  "x-request-id",
]);
/** Framing: each hop states its own; the body bytes are compared instead. */
const FRAMING = new Set(["content-length", "transfer-encoding"]);
/** What a hostile Connection header names: framing, routing, peer and end-to-end fields. */
const TOKENS = [
  "content-length",
  "transfer-encoding",
  "host",
  "te",
  "trailer",
  "upgrade",
  "keep-alive",
  "x-hopgate-peer-for",
  "x-hopgate-peer-id",
  "x-secret",
  "accept",
  "x-dup",
];

/** A header name in a random mix of upper and lower case. */
const spelled = (name: string) =>
  fc
    .array(fc.boolean(), { minLength: name.length, maxLength: name.length })
    .map((upper) => [...name].map((c, i) => (upper[i] ? c.toUpperCase() : c)).join(""));
const value = fc.stringMatching(/^[a-z0-9=;./-]{1,12}$/);
const field = (names: readonly string[], lowercase: boolean) =>
  fc.tuple(
    fc.constantFrom(...names).chain((name) => (lowercase ? fc.constant(name) : spelled(name))),
    value,
  );
/** 0–2 Connection lines, each naming some of TOKENS in any spelling. */
const connectionLines = fc.array(
  fc.subarray(TOKENS, { minLength: 1 }).chain((tokens) => fc.tuple(...tokens.map(spelled))),
  { maxLength: 2 },
);
const body = fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes));

/** Request fields; `__proto__` and `constructor` are ordinary names to a proxy. */
const H1_REQUEST_NAMES = [
  "x-secret",
  "x-dup",
  "accept",
  "x-hopgate-peer-for",
  "x-hopgate-peer-id",
  "keep-alive",
  "te",
  "trailer",
  "proxy-authorization",
  "x-forwarded-for",
  "__proto__",
  "constructor",
];
/**
 * HTTP/2 forbids connection-specific fields (RFC 9113 §8.2.2) and allows TE only as "trailers";
 * node's client sends Proxy-Authorization once at most.
 */
const H2_REQUEST_NAMES = H1_REQUEST_NAMES.filter(
  (name) => !["keep-alive", "te", "trailer", "proxy-authorization"].includes(name),
);
/** Response fields (Trailer and Upgrade left out: node's backend would refuse or upgrade). */
const RESPONSE_NAMES = [
  "x-secret",
  "x-dup",
  "accept",
  "x-hopgate-peer-for",
  "keep-alive",
  "te",
  "constructor",
];

/** The fields of `fields` that must cross a hop, by lowercased name, values in order. */
function endToEnd(fields: readonly Field[], connection: readonly string[][], dropped: ReadonlySet<string>) {
  const named = new Set(
    connection
      .flat()
      .map((token) => token.toLowerCase())
      .filter((token) => !NEVER_HOP_BY_HOP.has(token)),
  );
  return grouped(
    fields.filter(([name]) => {
      const lower = name.toLowerCase();
      return (
        !ALWAYS_HOP_BY_HOP.has(lower) &&
        !named.has(lower) &&
        !lower.startsWith("x-hopgate-") &&
        !dropped.has(lower)
      );
    }),
  );
}

function grouped(fields: readonly Field[]): Array<[string, string[]]> {
  const map = new Map<string, string[]>();
  for (const [name, text] of fields) {
    const lower = name.toLowerCase();
    map.set(lower, [...(map.get(lower) ?? []), text]);
  }
  return [...map].sort(([x], [y]) => (x < y ? -1 : 1));
}

const pairs = (raw: readonly string[]): Field[] =>
  raw.flatMap((name, i) => (i % 2 === 0 ? [[name, raw[i + 1] ?? ""] as const] : []));
const digest = (bytes: Buffer) => createHash("sha256").update(bytes).digest("hex");

interface Seen {
  readonly fields: Field[];
  readonly digest: string;
}

/**
 * The backend records what it received per path and answers with the fields, Connection lines
 * and body the test chose for that path.
 */
function recordingBackend(seen: Map<string, Seen>, answers: Map<string, Answer>): BackendHandler {
  return (req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const received = Buffer.concat(chunks);
      seen.set(req.url ?? "", { fields: pairs(req.rawHeaders), digest: digest(received) });
      const answer = answers.get(req.url ?? "");
      if (!answer) return res.end("ok");
      res.sendDate = false;
      const raw = [
        ...answer.fields.flat(),
        ...answer.connection.flatMap((tokens) => ["Connection", tokens.join(", ")]),
        "Content-Length",
        String(answer.body.length),
      ];
      res.writeHead(200, raw);
      res.end(answer.body);
    });
  };
}

interface Answer {
  readonly fields: readonly Field[];
  readonly connection: readonly string[][];
  readonly body: Buffer;
}

interface Received {
  readonly status: number;
  /** Lowercased names, repeated fields joined with ", ". */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: Buffer;
}

async function visitH1(
  port: number,
  path: string,
  fields: readonly Field[],
  connection: readonly string[][],
  sent: Buffer,
): Promise<Received> {
  const lines = [
    `POST ${path} HTTP/1.1`,
    `Host: ${DOMAIN}`,
    ...fields.map(([name, text]) => `${name}: ${text}`),
  ];
  for (const tokens of connection) lines.push(`Connection: ${tokens.join(", ")}`);
  lines.push(`Content-Length: ${sent.length}`);
  const visitor = await rawVisitor(port, DOMAIN);
  try {
    const reader = new Http1ResponseReader(visitor.socket);
    visitor.socket.write(Buffer.concat([Buffer.from(`${lines.join("\r\n")}\r\n\r\n`, "latin1"), sent]));
    return await reader.next("POST");
  } finally {
    visitor.socket.destroy();
  }
}

async function visitH2(
  port: number,
  path: string,
  fields: readonly Field[],
  sent: Buffer,
): Promise<Received> {
  const headers: http2.OutgoingHttpHeaders = Object.create(null) as http2.OutgoingHttpHeaders;
  for (const [name, text] of fields) {
    const existing = headers[name];
    headers[name] =
      existing === undefined ? text : [...(Array.isArray(existing) ? existing : [String(existing)]), text];
  }
  const session = http2.connect(`https://127.0.0.1:${port}`, { ca: tlsFixture().cert, servername: DOMAIN });
  session.on("error", () => undefined);
  try {
    const stream = session.request({
      ...Object.fromEntries(Object.entries(headers)),
      ":method": "POST",
      ":path": path,
      ":authority": DOMAIN,
      "content-length": String(sent.length),
    });
    stream.end(sent);
    const chunks: Buffer[] = [];
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    const head = await new Promise<http2.IncomingHttpHeaders>((resolve, reject) => {
      stream.once("response", resolve);
      stream.once("error", reject);
    });
    await new Promise((resolve) => stream.once("close", resolve));
    const { ":status": status, ...rest } = head;
    return { status: Number(status), headers: rest, body: Buffer.concat(chunks) };
  } finally {
    session.destroy();
  }
}

/** The response fields the visitor got from the backend: what neither HopGate nor framing adds. */
function backendFields(received: Received, addedByGateway: ReadonlySet<string>): Array<[string, string[]]> {
  const out: Field[] = [];
  for (const [name, text] of Object.entries(received.headers)) {
    if (text === undefined || addedByGateway.has(name) || FRAMING.has(name)) continue;
    out.push([name, Array.isArray(text) ? text.join(", ") : text]);
  }
  return grouped(out);
}

let run = 0;

describe("relayed headers, differential (RFC 9110 §7.6.1, docs/scale-out.md)", { skip: pgSkip() }, () => {
  it("what the backend receives is what the visitor sent minus hop-by-hop fields, and back, relayed or direct, over h1 and h2", async (t) => {
    const seen = new Map<string, Seen>();
    const answers = new Map<string, Answer>();
    const { a, b } = await startRelayPair(t, DOMAIN, recordingBackend(seen, answers));
    // Response fields HopGate adds of its own (e.g. X-Request-ID), found on a plain answer.
    const plain = await visitH1(b.httpsPort, "/plain", [], [], Buffer.alloc(0));
    const addedByGateway = new Set(Object.keys(plain.headers).filter((name) => !FRAMING.has(name)));

    await fc.assert(
      fc.asyncProperty(
        fc.boolean(),
        fc.boolean().chain((http2) =>
          fc.record({
            http2: fc.constant(http2),
            fields: fc.array(field(http2 ? H2_REQUEST_NAMES : H1_REQUEST_NAMES, http2), { maxLength: 8 }),
            connection: http2 ? fc.constant([]) : connectionLines,
            body,
          }),
        ),
        fc.record({
          fields: fc.array(field(RESPONSE_NAMES, false), { maxLength: 8 }),
          connection: connectionLines,
          body,
        }),
        async (relayed, request, answer) => {
          const path = `/d/${++run}`;
          answers.set(path, answer);
          const port = relayed ? b.httpsPort : a.httpsPort;
          const response = request.http2
            ? await visitH2(port, path, request.fields, request.body)
            : await visitH1(port, path, request.fields, request.connection, request.body);
          answers.delete(path);
          assert.equal(response.status, 200, JSON.stringify(response.headers));
          const backend = seen.get(path);
          seen.delete(path);
          assert.ok(backend, "the backend saw the request");
          assert.equal(backend.digest, digest(request.body), "request body bytes");
          const added = (name: string, text: string) =>
            SET_BY_GATEWAY.has(name) ||
            FRAMING.has(name) ||
            (name === "connection" && /^(keep-alive|close)$/i.test(text));
          assert.deepEqual(
            grouped(backend.fields.filter(([name, text]) => !added(name.toLowerCase(), text))),
            endToEnd(request.fields, request.connection, new Set([...SET_BY_GATEWAY, ...FRAMING])),
            "request fields at the backend",
          );
          assert.deepEqual(response.body, answer.body, "response body bytes");
          assert.deepEqual(
            backendFields(response, addedByGateway),
            endToEnd(answer.fields, answer.connection, FRAMING).map(([name, values]) => [
              name,
              [values.join(", ")],
            ]),
            "response fields at the visitor",
          );
        },
      ),
      { numRuns: 60 },
    );
  });
});
