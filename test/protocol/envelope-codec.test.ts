import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import fc from "fast-check";
import { decodeEnvelope, type DecodedStreamData } from "../../src/protocol/envelope-decoder.js";
import {
  encodeGrpcMessage,
  encodeGrpcMessageParts,
  REFERENCED_BODY_MIN_BYTES,
} from "../../src/protocol/envelope-encoder.js";
import { frame } from "../../src/protocol/frames.js";
import {
  EnvelopeSchema,
  FrameBatchSchema,
  StreamDataSchema,
  type Envelope,
} from "../../src/protocol/gen/hopgate/protocol/v1/tunnel_pb.js";
import { decodeSplitEnvelope } from "../../src/protocol/split-message-decoder.js";
import { emptyFieldMap, headerValues } from "../../src/protocol/wire-headers.js";

/** The envelope with every split StreamData body joined (data + more), as protobuf-es would give it. */
function joined(envelope: Envelope): Envelope {
  const payload = envelope.payload;
  if (payload.case === "batch") {
    return create(EnvelopeSchema, {
      payload: {
        case: "batch",
        value: create(FrameBatchSchema, { frames: payload.value.frames.map(joined) }),
      },
    });
  }
  if (payload.case !== "streamData") return envelope;
  const { id, seq, data, more } = payload.value as DecodedStreamData;
  return frame.data(id, seq, Buffer.concat([data, ...(more ?? [])]));
}

function split(bytes: Uint8Array, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const parts: Buffer[] = [];
  let last = 0;
  for (const point of [...points, bytes.length]) {
    parts.push(Buffer.from(bytes.subarray(last, point)));
    last = point;
  }
  return parts;
}

const id = fc.oneof(fc.constant(""), fc.string({ maxLength: 20 }), fc.stringMatching(/^http-[0-9]{1,9}$/));
const data = fc.uint8Array({ maxLength: 300 });
const seq = fc.oneof(fc.constant(0n), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }));

const singleFrame: fc.Arbitrary<Envelope> = fc.oneof(
  fc.tuple(id, seq, data).map(([i, s, d]) => frame.data(i, s, d)),
  fc.tuple(id, fc.string({ maxLength: 40 })).map(([i, e]) => frame.close(i, e)),
  fc.tuple(id, fc.nat({ max: 0xffffffff })).map(([i, b]) => frame.credit(i, b)),
  fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map((n) => frame.ping(n)),
  fc
    .tuple(id, fc.string({ maxLength: 10 }))
    .map(([i, v]) => frame.open(i, "web", { "X-Test": headerValues([v]) })),
  fc
    .tuple(
      id,
      fc.uniqueArray(
        fc.tuple(fc.string({ maxLength: 12 }), fc.array(fc.string({ maxLength: 10 }), { maxLength: 3 })),
        {
          maxLength: 4,
          selector: ([name]) => name,
        },
      ),
    )
    .map(([i, entries]) => {
      const header = Object.create(null) as Record<string, ReturnType<typeof headerValues>>;
      for (const [name, values] of entries) header[name] = headerValues(values);
      return frame.open(i, "web", header);
    }),
  fc.constant(create(EnvelopeSchema)),
);
const envelope = fc.oneof(
  singleFrame,
  fc
    .array(singleFrame, { maxLength: 6 })
    .map((frames) =>
      create(EnvelopeSchema, { payload: { case: "batch", value: create(FrameBatchSchema, { frames }) } }),
    ),
);

/** The message bytes of one gRPC Length-Prefixed-Message. */
function unframe(message: Buffer): Uint8Array {
  assert.equal(message[0], 0);
  assert.equal(message.readUInt32BE(1), message.length - 5);
  return message.subarray(5);
}

describe("envelope codec", () => {
  it("encodes byte for byte as protobuf-es does (canonical proto3)", () => {
    fc.assert(
      fc.property(envelope, (env) => {
        assert.deepEqual(
          Buffer.from(unframe(encodeGrpcMessage(env))),
          Buffer.from(toBinary(EnvelopeSchema, env)),
        );
      }),
      { numRuns: 500 },
    );
  });

  it("encodes any string (non-ASCII, lone surrogates, past the short-string path) as protobuf-es does", () => {
    // Every UTF-16 unit, lone surrogates included, and lengths on both sides of the encoder's
    // JavaScript path for short ASCII strings (128 units).
    const text = fc.oneof(
      fc.string({ unit: "binary", maxLength: 140 }),
      fc.string({ unit: "binary-ascii", minLength: 120, maxLength: 260 }),
      fc
        .tuple(fc.string({ minLength: 126, maxLength: 130 }), fc.string({ unit: "binary", maxLength: 3 }))
        .map(([ascii, rest]) => ascii + rest),
    );
    fc.assert(
      fc.property(
        text,
        text,
        fc.uniqueArray(fc.tuple(text, fc.array(text, { maxLength: 3 })), {
          maxLength: 4,
          selector: ([n]) => n,
        }),
        (streamId, service, entries) => {
          const header = emptyFieldMap<ReturnType<typeof headerValues>>();
          for (const [name, values] of entries) header[name] = headerValues(values);
          const env = frame.open(streamId, service, header);
          assert.deepEqual(
            Buffer.from(unframe(encodeGrpcMessage(env))),
            Buffer.from(toBinary(EnvelopeSchema, env)),
          );
          const close = frame.close(streamId, service);
          assert.deepEqual(
            Buffer.from(unframe(encodeGrpcMessage(close))),
            Buffer.from(toBinary(EnvelopeSchema, close)),
          );
        },
      ),
      { numRuns: 500 },
    );
  });

  it("encodes in parts, large bodies left in their own buffers, the same bytes as in one", () => {
    // Bodies around the threshold and above it, between the small frames of the other arbitrary.
    const large = fc
      .tuple(id, seq, fc.integer({ min: REFERENCED_BODY_MIN_BYTES - 2, max: 70_000 }), fc.nat({ max: 255 }))
      .map(([i, s, length, fill]) => frame.data(i, s, Buffer.alloc(length, fill)));
    const mixed = fc.oneof(
      large,
      fc
        .array(fc.oneof(large, singleFrame), { maxLength: 6 })
        .map((frames) =>
          create(EnvelopeSchema, { payload: { case: "batch", value: create(FrameBatchSchema, { frames }) } }),
        ),
      envelope,
    );
    // The bodies left where they are: large ones of frames encoded by hand (a seq beyond 2^53
    // goes through protobuf-es, which copies).
    const referenced = (env: Envelope): Uint8Array[] =>
      env.payload.case === "batch"
        ? env.payload.value.frames.flatMap(referenced)
        : env.payload.case === "streamData" &&
            env.payload.value.seq <= BigInt(Number.MAX_SAFE_INTEGER) &&
            env.payload.value.data.length >= REFERENCED_BODY_MIN_BYTES
          ? [env.payload.value.data]
          : [];
    fc.assert(
      fc.property(mixed, (env) => {
        const parts = encodeGrpcMessageParts(env);
        assert.deepEqual(Buffer.concat(parts), encodeGrpcMessage(env));
        for (const body of referenced(env)) {
          const shared = parts.some(
            (part) =>
              part.buffer === body.buffer &&
              part.byteOffset === body.byteOffset &&
              part.length === body.length,
          );
          assert.ok(shared, `a body of ${body.length} bytes was copied`);
        }
      }),
      { numRuns: 300 },
    );
  });

  it("decodes what protobuf-es encodes into the same message", () => {
    fc.assert(
      fc.property(envelope, (env) => {
        const bytes = toBinary(EnvelopeSchema, env);
        assert.deepEqual(
          toBinary(EnvelopeSchema, decodeEnvelope(bytes)),
          toBinary(EnvelopeSchema, fromBinary(EnvelopeSchema, bytes)),
        );
      }),
      { numRuns: 500 },
    );
  });

  it("decodes a message split into chunks as protobuf-es decodes it whole", () => {
    fc.assert(
      fc.property(envelope, fc.array(fc.nat(), { maxLength: 12 }), (env, cuts) => {
        const bytes = toBinary(EnvelopeSchema, env);
        const decoded = joined(decodeSplitEnvelope(split(bytes, cuts)));
        assert.deepEqual(
          toBinary(EnvelopeSchema, decoded),
          toBinary(EnvelopeSchema, fromBinary(EnvelopeSchema, bytes)),
        );
      }),
      { numRuns: 1000 },
    );
  });

  it("keeps a split body in the chunks it arrived in (no copy)", () => {
    const body = Buffer.alloc(3000, 7);
    const bytes = Buffer.from(toBinary(EnvelopeSchema, frame.data("http-1", 5n, body)));
    const parts = [bytes.subarray(0, 1000), bytes.subarray(1000, 2000), bytes.subarray(2000)];
    const decoded = decodeSplitEnvelope(parts);
    assert.equal(decoded.payload.case, "streamData");
    const value = decoded.payload.value as DecodedStreamData;
    assert.equal(value.more?.length, 2);
    assert.equal(value.data.buffer, parts[0]?.buffer);
    assert.equal(value.more?.[1]?.buffer, parts[2]?.buffer);
  });

  it("reads unknown fields around known ones as protobuf-es does", () => {
    const known = toBinary(
      StreamDataSchema,
      create(StreamDataSchema, { id: "http-1", seq: 3n, data: Buffer.from("abc") }),
    );
    // field 15 varint, field 16 fixed64, field 17 length-delimited, field 18 fixed32
    const extra = Buffer.from([
      0x78, 0x96, 0x01, 0x81, 0x01, 1, 2, 3, 4, 5, 6, 7, 8, 0x8a, 0x01, 0x02, 0x61, 0x62, 0x95, 0x01, 1, 2, 3,
      4,
    ]);
    const inner = Buffer.concat([extra, known]);
    const bytes = Buffer.concat([Buffer.from([0x22, inner.length]), inner]);
    const decoded = decodeEnvelope(bytes);
    assert.equal(decoded.payload.case, "streamData");
    if (decoded.payload.case !== "streamData") return;
    assert.equal(decoded.payload.value.id, "http-1");
    assert.equal(decoded.payload.value.seq, 3n);
    assert.equal(Buffer.from(decoded.payload.value.data).toString(), "abc");
  });

  it("merges a header's values field seen twice, as protobuf-es does", () => {
    // Envelope{stream_open{header{"a": values ["1"], then values ["2"]}}}, written by hand.
    const entry = [0x0a, 0x01, 0x61, 0x12, 0x03, 0x0a, 0x01, 0x31, 0x12, 0x03, 0x0a, 0x01, 0x32];
    const bytes = Uint8Array.from([0x1a, entry.length + 2, 0x22, entry.length, ...entry]);
    const decoded = decodeEnvelope(bytes).payload;
    const expected = fromBinary(EnvelopeSchema, bytes).payload;
    assert.equal(decoded.case, "streamOpen");
    assert.equal(expected.case, "streamOpen");
    assert.deepEqual(decoded.value.header.a?.values, ["1", "2"]);
    assert.deepEqual(decoded.value.header.a?.values, expected.value.header.a?.values);
  });

  it("returns a batch nested in a batch empty, without decoding it", () => {
    const nested = create(EnvelopeSchema, {
      payload: {
        case: "batch",
        value: create(FrameBatchSchema, {
          frames: [
            create(EnvelopeSchema, {
              payload: { case: "batch", value: create(FrameBatchSchema, { frames: [frame.close("x")] }) },
            }),
          ],
        }),
      },
    });
    const decoded = decodeEnvelope(toBinary(EnvelopeSchema, nested));
    assert.equal(decoded.payload.case, "batch");
    if (decoded.payload.case !== "batch") return;
    const inner = decoded.payload.value.frames[0];
    assert.equal(inner?.payload.case, "batch");
    assert.deepEqual(inner?.payload.case === "batch" ? inner.payload.value.frames : undefined, []);
  });

  it("throws on malformed input and never reads past the message", () => {
    for (const bytes of [
      [0x22, 0x05, 0x0a],
      [0x22, 0x02, 0x0a, 0x09],
      [0x42, 0x03, 0x0a, 0x05, 0x00],
      [0x22, 0x01, 0x0b],
      [0x22, 0x0b, 0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
    ]) {
      assert.throws(() => decodeEnvelope(Uint8Array.from(bytes)), Error, `bytes ${bytes.join(",")}`);
    }
  });

  it("never crashes on arbitrary bytes, whole or split: a message or an Error", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.array(fc.nat(), { maxLength: 6 }), (bytes, cuts) => {
        for (const decode of [() => decodeEnvelope(bytes), () => decodeSplitEnvelope(split(bytes, cuts))]) {
          try {
            decode();
          } catch (error) {
            assert.ok(error instanceof Error);
          }
        }
      }),
      { numRuns: 2000 },
    );
  });
});
