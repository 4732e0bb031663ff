import assert from "node:assert/strict";
import http2 from "node:http2";
import { describe, it } from "node:test";
import fc from "fast-check";
import { Http1ResponseReader } from "../helpers/http1-exchange.js";
import { pgSkip } from "../helpers/postgres.js";
import { rawVisitor } from "../helpers/raw-visitor.js";
import { tlsFixture } from "../helpers/tls-fixture.js";
import {
  bodyBytes,
  connectionLines,
  digest,
  endToEnd,
  field,
  FRAMING,
  grouped,
  H1_REQUEST_NAMES,
  H2_REQUEST_NAMES,
  http1RequestBytes,
  RESPONSE_NAMES,
  SET_BY_GATEWAY,
  recordingBackend,
  type Answer,
  type Field,
  type Seen,
} from "../helpers/hostile-headers.js";
import { startRelayPair } from "./peer-cluster.js";

const DOMAIN = "headers.example.test";
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
  const visitor = await rawVisitor(port, DOMAIN);
  try {
    const reader = new Http1ResponseReader(visitor.socket);
    visitor.socket.write(http1RequestBytes(path, DOMAIN, fields, connection, sent));
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
            body: bodyBytes,
          }),
        ),
        fc.record({
          fields: fc.array(field(RESPONSE_NAMES, false), { maxLength: 8 }),
          connection: connectionLines,
          body: bodyBytes,
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
