import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { decodeEnvelope } from "../../src/protocol/envelope-decoder.js";
import { encodeGrpcMessage } from "../../src/protocol/envelope-encoder.js";
import { frame } from "../../src/protocol/frames.js";
import type { Envelope, StreamOpen } from "../../src/protocol/gen/hopgate/protocol/v1/tunnel_pb.js";
import { decodeHello, encodeHello } from "../../src/protocol/handshake.js";
import { isFieldValue, isToken } from "../../src/protocol/http-syntax.js";
import { DEFAULT_TUNNEL_LIMITS } from "../../src/protocol/limits.js";
import { Multiplexer } from "../../src/protocol/multiplexer.js";
import { OutboundQueue } from "../../src/protocol/outbound-queue.js";
import { trailerFields } from "../../src/protocol/trailer-fields.js";
import { emptyFieldMap, headerValues, type HeaderMap } from "../../src/protocol/wire-headers.js";
import { v1Hello } from "../helpers/v1-go-client.js";

function mapOf(fields: Record<string, string[]>): HeaderMap {
  const map: HeaderMap = emptyFieldMap();
  for (const [name, values] of Object.entries(fields)) map[name] = headerValues(values);
  return map;
}

const roundTrip = (envelope: Envelope) => decodeEnvelope(encodeGrpcMessage(envelope).subarray(5));

/** A client-side multiplexer that upgraded to v2 with `capabilities`, and what it reports. */
function clientMux(capabilities: readonly string[]) {
  const outbound = new OutboundQueue({ batching: false, maxBatchBytes: 1 << 20, highWaterBytes: 1 << 20 });
  const violations: string[] = [];
  const events: string[] = [];
  const mux = new Multiplexer({
    outbound,
    limits: DEFAULT_TUNNEL_LIMITS,
    version: 1,
    onRemoteOpen: (stream) =>
      stream.setSink({
        head: () => events.push("head"),
        data: () => void events.push("data"),
        trailers: (header) => events.push(`trailers ${Object.keys(header).join(",")}`),
        end: () => events.push("end"),
        abort: (reason) => events.push(`abort ${reason}`),
      }),
    onControl: () => undefined,
    onViolation: (detail) => violations.push(detail),
  });
  assert.ok(mux.upgrade(DEFAULT_TUNNEL_LIMITS, capabilities));
  const taken = (): string[] => {
    const cases: string[] = [];
    for (let next = outbound.take(); next; next = outbound.take()) cases.push(next.payload.case ?? "");
    return cases;
  };
  return { mux, violations, events, taken };
}

const open = (id: string): Envelope => frame.open(id, "web", mapOf({ "X-HopGate-Status": ["200"] }));

describe("StreamTrailers on the wire", () => {
  it("round-trips alone and in a batch, its map inheriting nothing", () => {
    const header = mapOf({ "grpc-status": ["0"], ["__proto__"]: ["x"], "x-many": ["a", "b"] });
    const single = roundTrip(frame.trailers("http-7", header));
    assert.equal(single.payload.case, "streamTrailers");
    const value = single.payload.value as { id: string; header: HeaderMap };
    assert.equal(value.id, "http-7");
    assert.deepEqual(value.header["__proto__"]?.values, ["x"]);
    assert.deepEqual(value.header["x-many"]?.values, ["a", "b"]);
    assert.equal(Object.getPrototypeOf(Object.getPrototypeOf(value.header)), null);
    const batch = roundTrip({
      $typeName: "hopgate.protocol.v1.Envelope",
      payload: {
        case: "batch",
        value: {
          $typeName: "hopgate.protocol.v1.FrameBatch",
          frames: [frame.data("a", 0n, Buffer.from("x")), frame.trailers("a", header), frame.close("a")],
        },
      },
    });
    assert.deepEqual(
      batch.payload.case === "batch" && batch.payload.value.frames.map((f) => f.payload.case),
      ["streamData", "streamTrailers", "streamClose"],
    );
  });
});

describe("the trailers capability", () => {
  it("is announced by v2 hellos, kept to what the server speaks, and never read from a v1 hello", () => {
    const hello = (capabilities?: string[]) =>
      decodeHello(
        encodeHello({
          domain: "a.test",
          apiKey: "k",
          localTarget: "",
          services: [],
          clientVersion: "t",
          ...(capabilities && { capabilities }),
        }),
      );
    const cases: Array<[string[] | undefined, string[]]> = [
      [undefined, ["trailers"]],
      [[], []],
      [["future-thing", "trailers"], ["trailers"]],
      [["TRAILERS"], []],
    ];
    for (const [announced, agreed] of cases) {
      const decoded = hello(announced);
      assert.ok(decoded.ok);
      assert.deepEqual(decoded.hello.capabilities, agreed, JSON.stringify(announced));
    }
    const v1 = v1Hello("a.test", "k", "127.0.0.1:1");
    const open = v1.payload.value as StreamOpen;
    open.header["X-HopGate-Capability"] = headerValues(["trailers"]);
    const decoded = decodeHello(v1);
    assert.ok(decoded.ok);
    assert.equal(decoded.hello.protocolVersion, 1);
    assert.deepEqual(decoded.hello.capabilities, [], "a v1 peer never gets StreamTrailers");
  });

  it("sends StreamTrailers only to a peer that agreed, and the stream ends cleanly either way", () => {
    for (const capabilities of [[], ["trailers"]]) {
      const { mux, taken } = clientMux(capabilities);
      const stream = mux.open("s", true);
      assert.ok(stream);
      stream.sendOpen("web", mapOf({ "X-HopGate-Status": ["200"] }));
      const sent = stream.sendTrailers(mapOf({ "grpc-status": ["0"] }));
      stream.end();
      assert.equal(sent, capabilities.length > 0);
      assert.deepEqual(
        taken(),
        capabilities.length > 0
          ? ["streamOpen", "streamTrailers", "streamClose"]
          : ["streamOpen", "streamClose"],
      );
    }
  });

  it("takes one trailer section between the last data and the close, and refuses every other placement", () => {
    const cases: Array<{
      name: string;
      capabilities: string[];
      frames: (id: string) => Envelope[];
      violation?: RegExp;
    }> = [
      {
        name: "in order",
        capabilities: ["trailers"],
        frames: (id) => [
          open(id),
          frame.data(id, 0n, Buffer.from("x")),
          frame.trailers(id, mapOf({ a: ["1"] })),
          frame.close(id),
        ],
      },
      {
        name: "without the capability",
        capabilities: [],
        frames: (id) => [open(id), frame.trailers(id, mapOf({ a: ["1"] }))],
        violation: /without the trailers capability/,
      },
      {
        name: "twice",
        capabilities: ["trailers"],
        frames: (id) => [
          open(id),
          frame.trailers(id, mapOf({ a: ["1"] })),
          frame.trailers(id, mapOf({ b: ["1"] })),
        ],
        violation: /duplicate StreamTrailers/,
      },
      {
        name: "data after them",
        capabilities: ["trailers"],
        frames: (id) => [
          open(id),
          frame.trailers(id, mapOf({ a: ["1"] })),
          frame.data(id, 0n, Buffer.from("x")),
        ],
        violation: /StreamData after StreamTrailers/,
      },
      {
        name: "over the header size limit",
        capabilities: ["trailers"],
        frames: (id) => [
          open(id),
          frame.trailers(id, mapOf({ big: ["v".repeat(DEFAULT_TUNNEL_LIMITS.maxHeaderBytes)] })),
        ],
        violation: /header map larger than/,
      },
      {
        name: "over the header count limit",
        capabilities: ["trailers"],
        frames: (id) => [
          open(id),
          frame.trailers(
            id,
            mapOf(Object.fromEntries(Array.from({ length: 600 }, (_, i) => [`t${i}`, ["v"]]))),
          ),
        ],
        violation: /more than 512 header entries/,
      },
    ];
    for (const { name, capabilities, frames, violation } of cases) {
      const { mux, violations, events } = clientMux(capabilities);
      for (const envelope of frames("http-0")) void mux.receive(roundTrip(envelope));
      if (!violation) {
        assert.deepEqual(violations, [], name);
        assert.deepEqual(events, ["head", "data", "trailers a", "end"], name);
      } else {
        assert.match(violations.join("; "), violation, name);
        assert.match(events.at(-1) ?? "", /^abort protocol violation/, name);
      }
    }
  });
});

const NAME = fc.oneof(
  fc.constantFrom(
    "grpc-status",
    "grpc-message",
    ":status",
    "Content-Length",
    "transfer-encoding",
    "set-cookie",
    "X-HopGate-Status",
    "connection",
    "__proto__",
    "bad name",
    "x-ok",
  ),
  fc.string({ maxLength: 12 }),
);
const VALUE = fc.oneof(
  fc.constantFrom("0", "a\r\nInjected: 1", "ok", "é", "\u0100", "tab\there"),
  fc.string({ maxLength: 12 }),
);

describe("trailerFields", () => {
  it("refuses any section with a malformed field, and lets through only valid, allowed, lowercased fields", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(NAME, fc.array(VALUE, { maxLength: 3 })), { maxLength: 8 }),
        (entries) => {
          const map: HeaderMap = emptyFieldMap();
          for (const [name, values] of entries) map[name] = headerValues(values);
          const result = trailerFields(map);
          const malformed = Object.keys(map).some(
            (name) => !isToken(name) || (map[name]?.values ?? []).some((v) => !isFieldValue(v)),
          );
          assert.equal(result.ok, !malformed);
          if (!result.ok) return;
          for (const name of Object.keys(result.fields)) {
            assert.equal(name, name.toLowerCase());
            assert.ok(isToken(name));
            assert.ok(
              ![
                "content-length",
                "transfer-encoding",
                "set-cookie",
                "connection",
                "te",
                "trailer",
                "host",
              ].includes(name),
              name,
            );
            assert.ok(!name.startsWith("x-hopgate-"), name);
            const sent = Object.keys(map)
              .filter((n) => n.toLowerCase() === name)
              .flatMap((n) => map[n]?.values ?? []);
            assert.deepEqual(result.fields[name], sent, `${name} keeps every value in order`);
          }
          for (const name of Object.keys(map)) {
            const lower = name.toLowerCase();
            if (
              ["grpc-status", "grpc-message", "x-ok", "__proto__"].includes(lower) &&
              (map[name]?.values.length ?? 0) > 0
            )
              assert.ok(Object.hasOwn(result.fields, lower), `${lower} is kept`);
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});
