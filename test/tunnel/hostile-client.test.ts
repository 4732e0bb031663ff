import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, it, type TestContext } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { create, toBinary } from "@bufbuild/protobuf";
import fc from "fast-check";
import {
  EnvelopeSchema,
  ResponseSchema,
  StreamAckSchema,
  TunnelAcceptSchema,
  type Envelope,
  type HeaderValues,
} from "../../src/protocol/gen/hopgate/protocol/v1/tunnel_pb.js";
import { frame } from "../../src/protocol/frames.js";
import { startBackend } from "../helpers/backend.js";
import { startGateway, startTestClient, type Gateway } from "../helpers/gateway.js";
import {
  batchOf,
  grpcMessage,
  grpcPrefix,
  HostilePeer,
  responseHead,
  type OpenedRequest,
} from "../helpers/hostile-peer.js";
import { captureLogs, type LogCapture, type LogLine } from "../helpers/log-capture.js";
import { tlsFixture } from "../helpers/tls-fixture.js";
import { visit, type Visit } from "../helpers/visit.js";

const HEALTHY = "healthy.example.test";
const MAX_MESSAGE_BYTES = 4 * 1024 * 1024;
const WINDOW_BYTES = 512 * 1024;
const CHUNK_BYTES = 64 * 1024;

/** What the hostile peer does to the victim stream, as data (fast-check prints it on failure). */
type Hostility =
  // Refused heads: the visitor gets the server's own 502 page.
  | { kind: "status"; status: string | undefined }
  | { kind: "headerName"; name: string }
  | { kind: "headerValue"; value: string }
  | { kind: "manyHeaders"; count: number; emptyValues: boolean }
  | { kind: "bigHeader"; bytes: number }
  | { kind: "contentLength"; value: string }
  | { kind: "endBeforeHead" }
  | { kind: "dataBeforeHead"; bytes: number }
  // After a valid head: the visitor's response is aborted, never completed.
  | { kind: "duplicateHead" }
  | { kind: "lengthMismatch"; declared: number; sent: number }
  | { kind: "oversizedChunk"; bytes: number }
  | { kind: "seqGap"; seq: number }
  | { kind: "windowOverrun" }
  | { kind: "creditOverflow" }
  // Broken framing: the whole tunnel ends.
  | { kind: "flags"; flags: number }
  | { kind: "tooLong"; length: number }
  | { kind: "truncatedProtobuf"; cut: number }
  | { kind: "invalidProtobuf"; bytes: readonly number[] }
  | { kind: "cutOff"; declared: number; sent: number };

type Expectation = "refused" | "aborted" | "session";

const EXPECT: Record<Hostility["kind"], Expectation> = {
  status: "refused",
  headerName: "refused",
  headerValue: "refused",
  manyHeaders: "refused",
  bigHeader: "refused",
  contentLength: "refused",
  endBeforeHead: "refused",
  dataBeforeHead: "refused",
  duplicateHead: "aborted",
  lengthMismatch: "aborted",
  oversizedChunk: "aborted",
  seqGap: "aborted",
  windowOverrun: "aborted",
  creditOverflow: "aborted",
  flags: "session",
  tooLong: "session",
  truncatedProtobuf: "session",
  invalidProtobuf: "session",
  cutOff: "session",
};

/** Frames that must change nothing for anyone: unknown ids, legacy and stray control messages. */
type Noise =
  | { kind: "dataUnknown"; id: string }
  | { kind: "closeUnknown"; id: string; error: string }
  | { kind: "openUnknown"; id: string }
  | { kind: "creditUnknown"; id: string }
  | { kind: "ack" }
  | { kind: "legacyResponse" }
  | { kind: "pong"; nonce: bigint }
  | { kind: "accept" }
  | { kind: "nestedBatch" };

/** Text with at least one of the characters that split or end a header line. */
const withControl = fc
  .tuple(
    fc.string({ maxLength: 8 }),
    fc.constantFrom("\r", "\n", "\0", "\r\n", "\x01", "\x7f", "\u0100", "\u2028"),
    fc.string({ maxLength: 8 }),
  )
  .map(([a, control, b]) => `${a}${control}${b}`);

const hostility = (version: 1 | 2): fc.Arbitrary<Hostility> => {
  const common: fc.Arbitrary<Hostility>[] = [
    fc.record({
      kind: fc.constant("status" as const),
      status: fc.option(
        fc.oneof(
          fc.constantFrom(
            "0",
            "99",
            "1000",
            "100",
            "101",
            "103",
            "199",
            "600",
            "099",
            "",
            "abc",
            "2e2",
            " 200",
            "200 ",
            "-200",
          ),
          fc.constant("200\r\nX-Injected: yes"),
          fc.integer({ min: 600, max: 100_000 }).map(String),
        ),
        { nil: undefined },
      ),
    }),
    fc.record({
      kind: fc.constant("headerName" as const),
      name: fc.oneof(
        withControl,
        fc.constantFrom("", "x injected", "x:y", ":status", "x-é", "(x)", "x\r\nInjected"),
      ),
    }),
    fc.record({
      kind: fc.constant("headerValue" as const),
      value: fc.oneof(
        withControl,
        fc.constant("ok\r\nX-Injected: yes"),
        fc.constant("\r\n\r\nHTTP/1.1 200 OK"),
      ),
    }),
    fc.record({
      kind: fc.constant("manyHeaders" as const),
      count: fc.integer({ min: 513, max: 5000 }),
      emptyValues: fc.boolean(),
    }),
    fc.record({
      kind: fc.constant("bigHeader" as const),
      bytes: fc.integer({ min: 64 * 1024 + 1, max: 300_000 }),
    }),
    fc.record({
      kind: fc.constant("contentLength" as const),
      value: fc.constantFrom("abc", "-1", "1, 2", "1e3", "0x10", "12345678901234567890", ""),
    }),
    fc.constant({ kind: "endBeforeHead" as const }),
    fc.record({ kind: fc.constant("dataBeforeHead" as const), bytes: fc.integer({ min: 1, max: 1000 }) }),
    fc.constant({ kind: "duplicateHead" as const }),
    fc
      .record({
        kind: fc.constant("lengthMismatch" as const),
        declared: fc.integer({ min: 0, max: 2000 }),
        sent: fc.integer({ min: 0, max: 2000 }),
      })
      .filter((h) => h.declared !== h.sent),
    fc.record({ kind: fc.constant("flags" as const), flags: fc.integer({ min: 1, max: 255 }) }),
    fc.record({
      kind: fc.constant("tooLong" as const),
      length: fc.integer({ min: MAX_MESSAGE_BYTES + 1, max: 0xffffffff }),
    }),
    fc.record({ kind: fc.constant("truncatedProtobuf" as const), cut: fc.nat() }),
    fc.record({
      kind: fc.constant("invalidProtobuf" as const),
      bytes: fc.constantFrom(
        [0x0f], // field 1, wire type 7
        [0x1e], // field 3, wire type 6
        [0x0b], // field 1 as a group, cut off
        [0x00], // field number 0
        [0x1a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01], // varint of 11 bytes
        [0x1a, 0x05, 0x0a], // StreamOpen longer than the message
        [0x22, 0x03, 0x0a, 0x09, 0x61], // StreamData whose id runs past its end
      ),
    }),
    fc.record({
      kind: fc.constant("cutOff" as const),
      declared: fc.integer({ min: 1, max: 100_000 }),
      sent: fc.nat(),
    }),
  ];
  const v2Only: fc.Arbitrary<Hostility>[] = [
    fc.record({
      kind: fc.constant("oversizedChunk" as const),
      bytes: fc.integer({ min: CHUNK_BYTES + 1, max: 3 * CHUNK_BYTES }),
    }),
    fc.record({ kind: fc.constant("seqGap" as const), seq: fc.integer({ min: 1, max: 1_000_000 }) }),
    fc.constant({ kind: "windowOverrun" as const }),
    fc.constant({ kind: "creditOverflow" as const }),
  ];
  return fc.oneof(...common, ...(version === 2 ? v2Only : []));
};

const unknownId = fc.oneof(
  fc.integer({ min: 1_000_000, max: 2_000_000_000 }).map((n) => `http-${n}`),
  fc.string({ maxLength: 20 }).filter((id) => !id.startsWith("http-")),
);

const noise = (version: 1 | 2): fc.Arbitrary<Noise> =>
  fc.oneof(
    fc.record({ kind: fc.constant("dataUnknown" as const), id: unknownId }),
    fc.record({
      kind: fc.constant("closeUnknown" as const),
      id: unknownId,
      error: fc.string({ maxLength: 10 }),
    }),
    fc.record({ kind: fc.constant("openUnknown" as const), id: unknownId }),
    fc.record({ kind: fc.constant("creditUnknown" as const), id: unknownId }),
    fc.constant({ kind: "ack" as const }),
    fc.constant({ kind: "legacyResponse" as const }),
    fc.record({ kind: fc.constant("pong" as const), nonce: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }) }),
    fc.constant({ kind: "accept" as const }),
    ...(version === 2 ? [fc.constant({ kind: "nestedBatch" as const })] : []),
  );

function envelope(payload: Envelope["payload"]): Envelope {
  return create(EnvelopeSchema, { payload });
}

function sendNoise(peer: HostilePeer, item: Noise): void {
  switch (item.kind) {
    case "dataUnknown":
      return peer.send(frame.data(item.id, 0n, Buffer.from("stray")));
    case "closeUnknown":
      return peer.send(frame.close(item.id, item.error));
    case "openUnknown":
      return peer.send(responseHead(item.id, "200", { "x-stray": ["1"] }));
    case "creditUnknown":
      return peer.send(frame.credit(item.id, 1024));
    case "ack":
      return peer.send(
        envelope({ case: "streamAck", value: create(StreamAckSchema, { id: "http-0", ackSeq: 3n }) }),
      );
    case "legacyResponse":
      return peer.send(
        envelope({ case: "httpResponse", value: create(ResponseSchema, { requestId: "x", status: 200 }) }),
      );
    case "pong":
      return peer.send(frame.pong(item.nonce));
    case "accept":
      return peer.send(
        envelope({ case: "tunnelAccept", value: create(TunnelAcceptSchema, { protocolVersion: 2 }) }),
      );
    case "nestedBatch":
      return peer.send(batchOf([batchOf([frame.data("http-0", 0n, Buffer.from("x"))])]));
  }
}

/** Does `hostility` to stream `id`; returns once everything is written. */
function act(peer: HostilePeer, id: string, hostility: Hostility): void {
  const ok = (fields: Record<string, string[]> = {}) =>
    responseHead(id, "200", { "content-length": ["4"], ...fields });
  switch (hostility.kind) {
    case "status":
      return peer.send(responseHead(id, hostility.status, { "content-length": ["0"] }));
    case "headerName":
      return peer.send(responseHead(id, "200", { [hostility.name]: ["x"], "content-length": ["0"] }));
    case "headerValue":
      return peer.send(responseHead(id, "200", { "x-value": [hostility.value], "content-length": ["0"] }));
    case "manyHeaders": {
      const fields: Record<string, string[]> = {};
      for (let i = 0; i < hostility.count; i++) fields[`x-h-${i}`] = hostility.emptyValues ? [] : ["v"];
      return peer.send(responseHead(id, "200", fields));
    }
    case "bigHeader":
      return peer.send(responseHead(id, "200", { "x-big": ["b".repeat(hostility.bytes)] }));
    case "contentLength":
      peer.send(responseHead(id, "200", { "content-length": [hostility.value] }));
      return peer.send(frame.close(id));
    case "endBeforeHead":
      return peer.send(frame.close(id));
    case "dataBeforeHead":
      peer.send(frame.data(id, 0n, Buffer.alloc(hostility.bytes, 0x41)));
      peer.send(ok());
      peer.send(frame.data(id, 1n, Buffer.from("body")));
      return peer.send(frame.close(id));
    case "duplicateHead":
      peer.send(ok());
      peer.send(ok({ "x-second": ["yes"] }));
      peer.send(frame.data(id, 0n, Buffer.from("body")));
      return peer.send(frame.close(id));
    case "lengthMismatch":
      peer.send(responseHead(id, "200", { "content-length": [String(hostility.declared)] }));
      if (hostility.sent > 0) peer.send(frame.data(id, 0n, Buffer.alloc(hostility.sent, 0x42)));
      return peer.send(frame.close(id));
    case "oversizedChunk":
      peer.send(responseHead(id, "200", { "content-length": [String(hostility.bytes)] }));
      peer.send(frame.data(id, 0n, Buffer.alloc(hostility.bytes, 0x43)));
      return peer.send(frame.close(id));
    case "seqGap":
      peer.send(ok());
      peer.send(frame.data(id, BigInt(hostility.seq), Buffer.from("body")));
      return peer.send(frame.close(id));
    case "windowOverrun": {
      // One message: the whole overrun is read before any credit could come back.
      const chunks = WINDOW_BYTES / CHUNK_BYTES + 1;
      const frames = [responseHead(id, "200", { "content-length": [String(chunks * CHUNK_BYTES)] })];
      for (let seq = 0; seq < chunks; seq++)
        frames.push(frame.data(id, BigInt(seq), Buffer.alloc(CHUNK_BYTES, 0x44)));
      return peer.send(batchOf(frames));
    }
    case "creditOverflow":
      peer.send(ok());
      return peer.send(frame.credit(id, 0xffffffff));
    case "flags":
      return peer.sendRaw(Buffer.concat([grpcPrefix(hostility.flags, 3), Buffer.from([0x2a, 0x01, 0x0a])]));
    case "tooLong":
      return peer.sendRaw(Buffer.concat([grpcPrefix(0, hostility.length), Buffer.alloc(64)]));
    case "truncatedProtobuf": {
      const whole = toBinary(EnvelopeSchema, ok({ "x-pad": ["p".repeat(40)] }));
      const cut = 1 + (hostility.cut % (whole.length - 1));
      return peer.sendRaw(grpcMessage(whole.subarray(0, cut)));
    }
    case "invalidProtobuf":
      return peer.sendRaw(grpcMessage(Buffer.from(hostility.bytes)));
    case "cutOff":
      peer.sendRaw(grpcPrefix(0, hostility.declared));
      peer.sendRaw(Buffer.alloc(hostility.sent % hostility.declared, 0x0a));
      return peer.end();
  }
}

type Outcome = { t: "response"; visit: Visit } | { t: "aborted"; error: string };

function outcomeOf(request: Promise<Visit>): Promise<Outcome> {
  return request.then(
    (response) => ({ t: "response", visit: response }),
    (error: unknown) => ({ t: "aborted", error: String(error) }),
  );
}

/** The server's own error page, never anything the client made up. */
function assertServerPage(outcome: Outcome, status: number): void {
  assert.equal(outcome.t, "response", `expected the server's ${status} page, got ${JSON.stringify(outcome)}`);
  if (outcome.t !== "response") return;
  const { visit: response } = outcome;
  assert.equal(response.status, status);
  assert.match(response.body.toString(), /HopGate · request/);
  assert.ok(response.headers["x-request-id"]);
  for (const name of Object.keys(response.headers))
    assert.doesNotMatch(name, /inject|x-value|x-h-|x-big|x-second|x-stray/i);
}

async function eventually<T>(what: string, probe: () => T | undefined, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

interface Bench {
  readonly gateway: Gateway;
  readonly logs: LogCapture;
  readonly domain: string;
  readonly key: string;
  readonly version: 1 | 2;
  /** Visits the healthy domain and asserts a byte-exact answer. */
  healthy(bytes: number, http2: boolean): Promise<void>;
  /** A hostile peer whose session the server has registered. */
  connect(): Promise<HostilePeer>;
  /** Closes `peer` and waits until the server has let go of its session. */
  disconnect(peer: HostilePeer): Promise<void>;
}

/** Deterministic bytes for the healthy backend's answers. */
function healthyBody(bytes: number): Buffer {
  const out = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i++) out[i] = (i * 31 + (i >> 8)) & 0xff;
  return out;
}

/** A gateway with a real client on the healthy domain and a registered domain for hostile peers. */
async function startBench(
  t: TestContext,
  version: 1 | 2,
  flags: Record<string, string> = {},
): Promise<Bench> {
  const logs = captureLogs();
  const gateway = await startGateway(t, { proxyTimeoutSeconds: "20", ...flags }, logs.logger);
  const backend = await startBackend(t, (req, res) => {
    const bytes = Number(/^\/bytes\/(\d+)$/.exec(req.url ?? "")?.[1] ?? 0);
    res.writeHead(200, { "content-type": "application/octet-stream", "content-length": String(bytes) });
    res.end(healthyBody(bytes));
  });
  const client = startTestClient(t, gateway, HEALTHY, await gateway.register(HEALTHY), [
    `web=${backend.url}`,
  ]);
  await client.connected;
  const domain = `hostile-v${version}.example.test`;
  const key = await gateway.register(domain);
  const peers = new Set<HostilePeer>();
  t.after(() => {
    for (const peer of peers) peer.close();
  });
  const sessions = () => gateway.server.registry.list({ domain });
  return {
    gateway,
    logs,
    domain,
    key,
    version,
    healthy: async (bytes, http2) => {
      const response = await visit(gateway.port, HEALTHY, `/bytes/${bytes}`, { http2, timeoutMs: 20_000 });
      assert.equal(response.status, 200);
      assert.ok(response.body.equals(healthyBody(bytes)), "healthy response is byte-exact");
    },
    connect: async () => {
      const peer = new HostilePeer({
        port: gateway.port,
        ca: tlsFixture().cert,
        domain,
        apiKey: key,
        version,
      });
      peers.add(peer);
      await peer.ready;
      await eventually("the hostile session", () => (sessions().length === 1 ? true : undefined));
      return peer;
    },
    disconnect: async (peer) => {
      peer.close();
      peers.delete(peer);
      await eventually("the hostile session to end", () => (sessions().length === 0 ? true : undefined));
    },
  };
}

/** The two requests the server opened, told apart by URL. */
async function requestsByUrl(peer: HostilePeer): Promise<Record<string, OpenedRequest>> {
  const byUrl: Record<string, OpenedRequest> = {};
  for (let i = 0; i < 2; i++) {
    const request = await peer.nextRequest();
    byUrl[request.open.header["X-HopGate-URL"]?.values[0] ?? ""] = request;
  }
  return byUrl;
}

async function assertLogged(logs: LogCapture, from: number, what: string, match: (line: LogLine) => boolean) {
  return eventually(what, () => logs.lines.slice(from).find(match), 5_000);
}

/**
 * One run: a victim request and a healthy request on the hostile tunnel, a request to another
 * tunnel; the peer answers the healthy one in two halves around noise and the hostility.
 */
async function runHostility(
  bench: Bench,
  hostility: Hostility,
  noiseFrames: Noise[],
  h2: boolean[],
): Promise<void> {
  const { gateway, logs, domain } = bench;
  const expectation = EXPECT[hostility.kind];
  const from = logs.lines.length;
  const peer = await bench.connect();
  try {
    const victim = outcomeOf(visit(gateway.port, domain, "/victim", { http2: h2[0], timeoutMs: 30_000 }));
    const good = outcomeOf(visit(gateway.port, domain, "/good", { http2: h2[1], timeoutMs: 30_000 }));
    const healthy = bench.healthy(150_000, h2[2] ?? false);
    const requests = await requestsByUrl(peer);
    const [victimRequest, goodRequest] = [requests["/victim"], requests["/good"]];
    assert.ok(victimRequest && goodRequest, "both requests reached the hostile tunnel");
    await Promise.all([victimRequest.body, goodRequest.body]);
    const goodBody = randomBytes(100_000);
    peer.send(responseHead(goodRequest.id, "200", { "content-length": [String(goodBody.length)] }));
    peer.send(frame.data(goodRequest.id, 0n, goodBody.subarray(0, 50_000)));
    for (const item of noiseFrames) sendNoise(peer, item);
    act(peer, victimRequest.id, hostility);
    peer.send(frame.data(goodRequest.id, 1n, goodBody.subarray(50_000)));
    peer.send(frame.close(goodRequest.id));

    const victimOutcome = await victim;
    if (expectation === "refused") assertServerPage(victimOutcome, 502);
    else if (expectation === "aborted")
      assert.equal(victimOutcome.t, "aborted", JSON.stringify(victimOutcome));
    else if (victimOutcome.t === "response") assertServerPage(victimOutcome, 502);

    const goodOutcome = await good;
    if (expectation === "session") {
      // The tunnel is gone: the healthy stream on it fails too, never completes wrongly.
      if (goodOutcome.t === "response") assertServerPage(goodOutcome, 502);
      const closed = await assertLogged(
        logs,
        from,
        "the tunnel closed with a reason",
        (line) => line.msg === "tunnel closed" && line.domain === domain,
      );
      assert.equal(typeof closed.reason, "string");
      assert.match(String(closed.reason), /malformed|in the middle of a message/);
      const end = await peer.ended;
      if (hostility.kind !== "cutOff") assert.equal(end.grpcStatus, 13, "INTERNAL for broken framing");
    } else {
      assert.equal(goodOutcome.t, "response", JSON.stringify(goodOutcome));
      if (goodOutcome.t === "response") {
        assert.equal(goodOutcome.visit.status, 200);
        assert.ok(
          goodOutcome.visit.body.equals(goodBody),
          "the other stream on the hostile tunnel is byte-exact",
        );
      }
      const violation = await assertLogged(
        logs,
        from,
        "a logged violation on the victim stream",
        (line) => line.msg === "tunnel protocol violation" && line.stream_id === victimRequest.id,
      );
      assert.equal(typeof violation.detail, "string");
      assert.ok(bench.gateway.server.registry.list({ domain }).length === 1, "the tunnel itself survives");
    }
    await healthy;
  } finally {
    await bench.disconnect(peer);
  }
}

/** One case of every kind, run before the random ones so that each defence is exercised every time. */
function everyKind(version: 1 | 2): Array<[Hostility, Noise[], boolean[]]> {
  const kinds: Hostility[] = [
    { kind: "status", status: "99" },
    { kind: "status", status: "1000" },
    { kind: "status", status: "0" },
    { kind: "status", status: "200\r\nX-Injected: yes" },
    { kind: "headerName", name: "x\r\nInjected" },
    { kind: "headerValue", value: "ok\r\nX-Injected: yes" },
    { kind: "headerValue", value: "nul\0" },
    { kind: "headerValue", value: "wide\u0100" },
    { kind: "manyHeaders", count: 3000, emptyValues: false },
    { kind: "manyHeaders", count: 3000, emptyValues: true },
    { kind: "bigHeader", bytes: 100_000 },
    { kind: "contentLength", value: "1, 2" },
    { kind: "endBeforeHead" },
    { kind: "dataBeforeHead", bytes: 10 },
    { kind: "duplicateHead" },
    { kind: "lengthMismatch", declared: 3, sent: 10 },
    { kind: "lengthMismatch", declared: 10, sent: 3 },
    { kind: "flags", flags: 1 },
    { kind: "tooLong", length: MAX_MESSAGE_BYTES + 1 },
    { kind: "truncatedProtobuf", cut: 20 },
    { kind: "invalidProtobuf", bytes: [0x0f] },
    { kind: "cutOff", declared: 100, sent: 10 },
    ...(version === 2
      ? ([
          { kind: "oversizedChunk", bytes: CHUNK_BYTES + 1 },
          { kind: "seqGap", seq: 1 },
          { kind: "windowOverrun" },
          { kind: "creditOverflow" },
        ] as const)
      : []),
  ];
  const allNoise: Noise[] = [
    { kind: "dataUnknown", id: "http-1000000" },
    { kind: "closeUnknown", id: "nope", error: "x" },
    { kind: "openUnknown", id: "http-1000001" },
    { kind: "creditUnknown", id: "http-1000002" },
    { kind: "ack" },
    { kind: "legacyResponse" },
    { kind: "pong", nonce: 7n },
    { kind: "accept" },
    ...(version === 2 ? [{ kind: "nestedBatch" as const }] : []),
  ];
  return kinds.map((kind, i) => [kind, i === 0 ? allNoise : [], [i % 2 === 0, i % 3 === 0, i % 4 === 0]]);
}

for (const version of [1, 2] as const) {
  describe(`a hostile v${version} tunnel client`, () => {
    it("gets its stream or its tunnel closed with a logged reason, and no one else notices", async (t) => {
      const bench = await startBench(t, version);
      await fc.assert(
        fc.asyncProperty(
          hostility(version),
          fc.array(noise(version), { maxLength: 3 }),
          fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }),
          (item, noiseFrames, h2) => runHostility(bench, item, noiseFrames, h2),
        ),
        {
          numRuns: 30 + everyKind(version).length,
          examples: everyKind(version),
          interruptAfterTimeLimit: 40_000,
        },
      );
      // The server still serves both tunnels afterwards.
      await bench.healthy(1000, true);
      const peer = await bench.connect();
      const response = visit(bench.gateway.port, bench.domain, "/after");
      const request = await peer.nextRequest();
      await request.body;
      peer.send(responseHead(request.id, "201", { "content-length": ["2"] }));
      peer.send(frame.data(request.id, 0n, Buffer.from("ok")));
      peer.send(frame.close(request.id));
      const after = await response;
      assert.equal(after.status, 201);
      assert.equal(after.body.toString(), "ok");
    });

    it("passes header fields named like Object.prototype members as ordinary fields, both ways", async (t) => {
      const bench = await startBench(t, version);
      const peer = await bench.connect();
      const visitorHeaders = JSON.parse('{"constructor":"c","__proto__":"p"}') as Record<string, string>;
      const response = visit(bench.gateway.port, bench.domain, "/proto", { headers: visitorHeaders });
      const request = await peer.nextRequest();
      await request.body;
      const own = (name: string) =>
        (Object.getOwnPropertyDescriptor(request.open.header, name)?.value as HeaderValues | undefined)
          ?.values;
      assert.deepEqual(own(version === 1 ? "Constructor" : "constructor"), ["c"]);
      assert.deepEqual(own("__proto__"), ["p"]);
      const fields = JSON.parse('{"constructor":["x"],"__proto__":["y"],"content-length":["0"]}') as Record<
        string,
        string[]
      >;
      peer.send(responseHead(request.id, "200", fields));
      peer.send(frame.close(request.id));
      const answer = await response;
      assert.equal(answer.status, 200);
      assert.equal(answer.headers.constructor, "x");
      // (node's HTTP client drops a "__proto__" field from res.headers, so only the other one is checked)
      assert.doesNotMatch(JSON.stringify(answer.headers), /native code/);
      await bench.healthy(1000, false);
    });

    it("cannot get more streams than the limit, nor open streams of its own", async (t) => {
      const bench = await startBench(t, version, { maxStreamsPerTunnel: "2" });
      const peer = await bench.connect();
      const held = [0, 1].map((i) => outcomeOf(visit(bench.gateway.port, bench.domain, `/held-${i}`)));
      const requests = [await peer.nextRequest(), await peer.nextRequest()];
      const third = await visit(bench.gateway.port, bench.domain, "/third");
      assertServerPage({ t: "response", visit: third }, 502);
      // A thousand StreamOpens for ids the server never opened: each a violation, none a stream.
      const from = bench.logs.lines.length;
      for (let i = 0; i < 1000; i++)
        peer.send(responseHead(`http-${100 + i}`, "200", { "content-length": ["0"] }));
      await bench.healthy(100_000, true);
      const answer = async (request: OpenedRequest) => {
        await request.body;
        peer.send(responseHead(request.id, "200", { "content-length": ["2"] }));
        peer.send(frame.data(request.id, 0n, Buffer.from("ok")));
        peer.send(frame.close(request.id));
      };
      // The tunnel is read in order: once the first held request is answered, all opens were read.
      await answer(requests[0]!);
      const first = await held[0]!;
      assert.equal(first.t === "response" && first.visit.body.toString(), "ok");
      assert.equal(bench.gateway.server.registry.list({ domain: bench.domain })[0]?.inFlightStreams, 1);
      await answer(requests[1]!);
      const second = await held[1]!;
      assert.equal(second.t === "response" && second.visit.body.toString(), "ok");
      // The log gets the first 20 violations, then, when the session ends, the count of the others.
      const logged = bench.logs.since(from, "tunnel protocol violation");
      assert.deepEqual(
        logged.map((line) => line.stream_id),
        Array.from({ length: 20 }, (_, i) => `http-${100 + i}`),
      );
      assert.deepEqual(bench.logs.since(from, "tunnel protocol violations not logged"), []);
      await bench.disconnect(peer);
      const summary = await assertLogged(
        bench.logs,
        from,
        "the count of the violations not logged",
        (line) => line.msg === "tunnel protocol violations not logged",
      );
      assert.equal(summary.violations, 980);
      assert.equal(summary.domain, bench.domain);
      assert.equal(summary.session_id, logged[0]?.session_id);
      assert.equal(bench.logs.since(from, "tunnel protocol violations not logged").length, 1);
    });

    it("never crashes on random bytes after the handshake, and only that tunnel ends", async (t) => {
      const bench = await startBench(t, version);
      await fc.assert(
        fc.asyncProperty(
          fc.uint8Array({ minLength: 1, maxLength: 2000 }),
          fc.boolean(),
          async (bytes, framed) => {
            const from = bench.logs.lines.length;
            const peer = await bench.connect();
            peer.sendRaw(framed ? grpcMessage(bytes) : bytes);
            peer.end();
            await bench.healthy(20_000, false);
            const closed = await assertLogged(
              bench.logs,
              from,
              "the tunnel to close",
              (line) => line.msg === "tunnel closed" && line.domain === bench.domain,
            );
            assert.equal(typeof closed.reason, "string");
            await bench.disconnect(peer);
          },
        ),
        { numRuns: 30, interruptAfterTimeLimit: 20_000 },
      );
      await bench.healthy(1000, true);
    });
  });
}
