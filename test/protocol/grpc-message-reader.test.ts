import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { GrpcMessageReader } from "../../src/protocol/grpc-message-reader.js";

function framed(message: Buffer): Buffer {
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(message.length, 1);
  return Buffer.concat([prefix, message]);
}

/** Splits `bytes` at the given cut points (sorted, deduplicated, within range). */
function split(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let last = 0;
  for (const point of [...points, bytes.length]) {
    chunks.push(bytes.subarray(last, point));
    last = point;
  }
  return chunks;
}

describe("GrpcMessageReader", () => {
  it("yields every message intact and in order, however the bytes are chunked", () => {
    // Each message comes as views of the chunks it arrived in, joined here to compare.
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 200 }), { maxLength: 8 }),
        fc.array(fc.nat(), { maxLength: 20 }),
        (messages, cuts) => {
          const stream = Buffer.concat(messages.map((m) => framed(Buffer.from(m))));
          const reader = new GrpcMessageReader(1024);
          const out: Buffer[] = [];
          for (const chunk of split(stream, cuts))
            reader.push(chunk, (parts) => out.push(Buffer.concat(parts)));
          assert.deepEqual(
            out,
            messages.map((m) => Buffer.from(m)),
          );
          assert.equal(reader.partial, false);
        },
      ),
      { numRuns: 500 },
    );
  });

  it("reports a message cut off in the middle as partial", () => {
    const reader = new GrpcMessageReader(1024);
    reader.push(framed(Buffer.from("hello")).subarray(0, 7), () => assert.fail("no message is complete"));
    assert.equal(reader.partial, true);
  });

  it("refuses compressed messages and messages above the limit", () => {
    const compressed = framed(Buffer.from("x"));
    compressed[0] = 1;
    assert.throws(() => new GrpcMessageReader(1024).push(compressed, () => undefined), /compressed/);
    assert.throws(
      () => new GrpcMessageReader(4).push(framed(Buffer.alloc(5)), () => undefined),
      /exceeds the limit/,
    );
    // The limit is checked from the prefix alone, before the body arrives.
    const prefixOnly = framed(Buffer.alloc(5000)).subarray(0, 5);
    assert.throws(() => new GrpcMessageReader(4096).push(prefixOnly, () => undefined), /exceeds the limit/);
  });
});
