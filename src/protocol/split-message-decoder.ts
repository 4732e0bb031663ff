import { decodeEnvelope, decodeStreamData, type DecodedStreamData } from "./envelope-decoder.js";
import { envelope } from "./frames.js";
import type { Envelope } from "./gen/hopgate/protocol/v1/tunnel_pb.js";

/**
 * Decodes one Envelope that arrived in several pieces (HTTP/2 DATA chunks of about 16 KiB carry
 * a 256 KiB FrameBatch) without joining the pieces: a StreamData's body stays in the chunks it
 * arrived in, as `data` plus `more` (DecodedStreamData), so a body byte is never copied on the
 * way in. Joining every message into one buffer doubled the ArrayBuffer garbage of a transfer,
 * which V8 frees only at its next GC (docs/performance.md). Small frames (opens, credits,
 * closes, control) are copied out and go through decodeEnvelope. Throws on malformed protobuf.
 */
export function decodeSplitEnvelope(parts: readonly Buffer[]): Envelope {
  const bytes = new Pieces(parts);
  const whole = () => decodeEnvelope(bytes.copy(0, bytes.length));
  if (bytes.length === 0) return whole();
  const tag = bytes.varint(0);
  if ((tag.value & 7) !== 2) return whole();
  const header = bytes.lengthDelimited(tag.next);
  // Only a message that is exactly one batch or one StreamData is decoded in place.
  if (header.end !== bytes.length) return whole();
  if (tag.value === TAG_STREAM_DATA) {
    return envelope({ case: "streamData", value: streamData(bytes, header.start, header.end) });
  }
  if (tag.value !== TAG_BATCH) return whole();
  const frames: Envelope[] = [];
  for (let at = header.start; at < header.end;) {
    const frameTag = bytes.varint(at);
    if (frameTag.value !== TAG_FIELD1_LEN) return whole(); // an unknown FrameBatch field
    const frame = bytes.lengthDelimited(frameTag.next);
    if (frame.end > header.end) throw new Error("frame beyond its batch");
    frames.push(batchFrame(bytes, frame.start, frame.end));
    at = frame.end;
  }
  return envelope({ case: "batch", value: { $typeName: "hopgate.protocol.v1.FrameBatch", frames } });
}

const TAG_FIELD1_LEN = (1 << 3) | 2;
const TAG_FIELD2_VARINT = 2 << 3;
const TAG_FIELD3_LEN = (3 << 3) | 2;
const TAG_STREAM_DATA = (4 << 3) | 2;
const TAG_BATCH = (8 << 3) | 2;

/** One frame of a batch: a lone StreamData in place, anything else copied and decoded. */
function batchFrame(bytes: Pieces, start: number, end: number): Envelope {
  if (end - start > 1 && bytes.byteAt(start) === TAG_STREAM_DATA) {
    const inner = bytes.lengthDelimited(bytes.varint(start).next);
    if (inner.end === end)
      return envelope({ case: "streamData", value: streamData(bytes, inner.start, inner.end) });
  }
  return decodeEnvelope(bytes.copy(start, end), true);
}

function streamData(bytes: Pieces, start: number, end: number): DecodedStreamData {
  let id = "";
  let seq = 0n;
  let data: Buffer[] = [];
  for (let at = start; at < end;) {
    const tag = bytes.varint(at);
    if (tag.value === TAG_FIELD2_VARINT) {
      const value = bytes.uint64(tag.next);
      seq = value.value;
      at = value.next;
      continue;
    }
    if (tag.value !== TAG_FIELD1_LEN && tag.value !== TAG_FIELD3_LEN) {
      // An unknown field: decode this StreamData contiguously, which skips it properly.
      const copy = bytes.copy(start, end);
      return decodeStreamData(copy, 0, copy.length);
    }
    const field = bytes.lengthDelimited(tag.next);
    if (field.end > end) throw new Error("field beyond its message");
    if (tag.value === TAG_FIELD1_LEN) id = bytes.copy(field.start, field.end).toString("utf8");
    else data = bytes.slices(field.start, field.end);
    at = field.end;
  }
  const value: DecodedStreamData = {
    $typeName: "hopgate.protocol.v1.StreamData",
    id,
    seq,
    data: data[0] ?? EMPTY,
    ...(data.length > 1 ? { more: data.slice(1) } : {}),
  };
  return value;
}

const EMPTY = new Uint8Array(0);

/** A message as a list of chunks, read by absolute offset. */
class Pieces {
  readonly length: number;
  readonly #parts: readonly Buffer[];
  readonly #starts: number[] = [];
  #index = 0;

  constructor(parts: readonly Buffer[]) {
    this.#parts = parts;
    let length = 0;
    for (const part of parts) {
      this.#starts.push(length);
      length += part.length;
    }
    this.length = length;
  }

  byteAt(offset: number): number {
    if (offset >= this.length) throw new Error("truncated message");
    this.#seek(offset);
    return (this.#parts[this.#index] as Buffer)[offset - (this.#starts[this.#index] as number)] as number;
  }

  /** A varint at `offset` (up to 2^53) and the offset after it. */
  varint(offset: number): { value: number; next: number } {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      const byte = this.byteAt(offset + i);
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) return { value, next: offset + i + 1 };
      scale *= 0x80;
    }
    throw new Error("varint longer than 10 bytes");
  }

  /** An unsigned 64-bit varint at `offset`, exactly. */
  uint64(offset: number): { value: bigint; next: number } {
    const { value, next } = this.varint(offset);
    if (value <= Number.MAX_SAFE_INTEGER) return { value: BigInt(value), next };
    let exact = 0n;
    for (let i = next - 1; i >= offset; i--) exact = (exact << 7n) | BigInt(this.byteAt(i) & 0x7f);
    return { value: BigInt.asUintN(64, exact), next };
  }

  /** The range of the length-delimited value whose length is at `offset`. */
  lengthDelimited(offset: number): { start: number; end: number } {
    const length = this.varint(offset);
    const end = length.next + length.value;
    if (end > this.length) throw new Error("length-delimited field beyond the message");
    return { start: length.next, end };
  }

  /** Views of the chunks covering [start, end), without copying. */
  slices(start: number, end: number): Buffer[] {
    const out: Buffer[] = [];
    for (let at = start; at < end;) {
      this.#seek(at);
      const part = this.#parts[this.#index] as Buffer;
      const partStart = this.#starts[this.#index] as number;
      const take = Math.min(end, partStart + part.length) - at;
      out.push(part.subarray(at - partStart, at - partStart + take));
      at += take;
    }
    return out;
  }

  copy(start: number, end: number): Buffer {
    const slices = this.slices(start, end);
    return slices.length === 1 ? (slices[0] as Buffer) : Buffer.concat(slices, end - start);
  }

  #seek(offset: number): void {
    while (this.#index > 0 && offset < (this.#starts[this.#index] as number)) this.#index--;
    while (
      this.#index < this.#parts.length - 1 &&
      offset >= (this.#starts[this.#index] as number) + (this.#parts[this.#index] as Buffer).length
    ) {
      this.#index++;
    }
  }
}
