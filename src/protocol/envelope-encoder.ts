import { toBinary } from "@bufbuild/protobuf";
import {
  EnvelopeSchema,
  type Envelope,
  type HeaderValues,
  type StreamOpen,
} from "./gen/hopgate/protocol/v1/tunnel_pb.js";

/**
 * Serializes an Envelope as one gRPC Length-Prefixed-Message (grpc PROTOCOL-HTTP2.md: a
 * compressed flag, a 4-byte big-endian length, the protobuf bytes) into a single buffer.
 *
 * The frames that carry the traffic (StreamOpen, StreamData, StreamCredit, StreamClose, and
 * FrameBatches of them) are written field by field, so that a body chunk is copied exactly once, from where it
 * arrived into the message; protobuf-es's `toBinary` would copy it into its writer's chunks,
 * then into the finished array, and Connect once more into the gRPC envelope. Every other frame
 * goes through `toBinary`. The bytes are the canonical proto3 encoding either way (fields in
 * number order, default values omitted), so any protobuf decoder reads them. `allocate` gives
 * the buffer to write into (exactly the size asked for), so that a caller can reuse buffers.
 */
export function encodeGrpcMessage(
  envelope: Envelope,
  allocate: (bytes: number) => Buffer = (bytes) => Buffer.allocUnsafe(bytes),
): Buffer {
  const plan: Plan = { sizes: [], fallbacks: [], referencedBytes: -1 };
  const size = envelopeSize(envelope, plan);
  const out = allocate(5 + size);
  writePrefix(out, size);
  const cursor: Cursor = { at: 5, size: 0, fallback: 0, references: undefined };
  writeEnvelope(out, envelope, plan, cursor);
  return out;
}

/**
 * StreamData bodies at least this large are not copied by `encodeGrpcMessageParts`: below it,
 * one more piece to write costs more than the copy.
 */
export const REFERENCED_BODY_MIN_BYTES = 4096;

/**
 * The same gRPC message as `encodeGrpcMessage`, as pieces that, written in order, are its bytes:
 * the StreamData bodies of at least REFERENCED_BODY_MIN_BYTES are the callers' own buffers
 * (not copied: they must not change until written); everything between them is written into
 * one buffer from `allocate`, of which the other pieces are views (the first piece starts it).
 * One piece when nothing is referenced. For corked writes (writev) of bulk data: each body byte
 * is then copied only by the layers below (TLS), not into the message first.
 */
export function encodeGrpcMessageParts(
  envelope: Envelope,
  allocate: (bytes: number) => Buffer = (bytes) => Buffer.allocUnsafe(bytes),
): Buffer[] {
  const plan: Plan = { sizes: [], fallbacks: [], referencedBytes: 0 };
  const size = envelopeSize(envelope, plan);
  const out = allocate(5 + size - plan.referencedBytes);
  writePrefix(out, size);
  const references: Reference[] = [];
  const cursor: Cursor = { at: 5, size: 0, fallback: 0, references };
  writeEnvelope(out, envelope, plan, cursor);
  if (references.length === 0) return [out];
  const parts: Buffer[] = [];
  let from = 0;
  for (const { at, data } of references) {
    parts.push(out.subarray(from, at));
    parts.push(Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.length));
    from = at;
  }
  if (from < cursor.at) parts.push(out.subarray(from, cursor.at));
  return parts;
}

function writePrefix(out: Buffer, size: number): void {
  out[0] = 0; // not compressed
  out.writeUInt32BE(size, 1);
}

/** Sizes computed by the first pass, consumed in the same order by the second. */
interface Plan {
  readonly sizes: number[];
  /** `toBinary` output of frames without a hand-written encoding. */
  readonly fallbacks: Uint8Array[];
  /** Body bytes left in their own buffers (parts encoding); -1: every byte is copied. */
  referencedBytes: number;
}

/** A body left where it is: in the message, it follows the first `at` bytes of the written buffer. */
interface Reference {
  readonly at: number;
  readonly data: Uint8Array;
}

interface Cursor {
  at: number;
  size: number;
  fallback: number;
  /** Parts encoding: the bodies left where they are, in order. */
  readonly references: Reference[] | undefined;
}

// Tags: (field number << 3) | wire type (2: length-delimited, 0: varint).
const TAG_STREAM_OPEN = (3 << 3) | 2;
const TAG_STREAM_DATA = (4 << 3) | 2;
const TAG_STREAM_CLOSE = (5 << 3) | 2;
const TAG_BATCH = (8 << 3) | 2;
const TAG_STREAM_CREDIT = (9 << 3) | 2;
const TAG_FIELD1_LEN = (1 << 3) | 2;
const TAG_FIELD2_VARINT = 2 << 3;
const TAG_FIELD2_LEN = (2 << 3) | 2;
const TAG_FIELD3_LEN = (3 << 3) | 2;
const TAG_FIELD4_LEN = (4 << 3) | 2;

/**
 * Size of the envelope's bytes (without a tag and length around it). Records the size of each
 * hand-encoded payload in `plan.sizes`, in the order `writeEnvelope` visits them.
 */
function envelopeSize(envelope: Envelope, plan: Plan, nested = false): number {
  const payload = envelope.payload;
  const slot = plan.sizes.length;
  let inner: number;
  switch (payload.case) {
    case "streamData": {
      const seq = payload.value.seq;
      if (seq > MAX_SAFE_SEQ) return fallbackSize(envelope, plan);
      const dataLength = payload.value.data.length;
      inner =
        stringFieldSize(payload.value.id) +
        (seq === 0n ? 0 : 1 + varintSize(Number(seq))) +
        bytesFieldSize(dataLength);
      if (plan.referencedBytes >= 0 && dataLength >= REFERENCED_BODY_MIN_BYTES)
        plan.referencedBytes += dataLength;
      break;
    }
    case "streamClose":
      inner = stringFieldSize(payload.value.id) + stringFieldSize(payload.value.error);
      break;
    case "streamOpen":
      plan.sizes.push(0); // this frame's slot comes before its header entries'
      inner = streamOpenSize(payload.value, plan);
      break;
    case "streamCredit": {
      const bytes = payload.value.bytes;
      inner = stringFieldSize(payload.value.id) + (bytes === 0 ? 0 : 1 + varintSize(bytes));
      break;
    }
    case "batch": {
      if (nested) return fallbackSize(envelope, plan);
      plan.sizes.push(0); // this batch's slot comes before its frames'
      inner = 0;
      for (const frame of payload.value.frames) {
        const frameSize = envelopeSize(frame, plan, true);
        inner += 1 + varintSize(frameSize) + frameSize; // present even when empty: an element
      }
      break;
    }
    default:
      return fallbackSize(envelope, plan);
  }
  plan.sizes[slot] = inner;
  return 1 + varintSize(inner) + inner;
}

const MAX_SAFE_SEQ = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * StreamOpen: id, service name, target address, then the header map, one entry per name in
 * insertion order, key and value always present (as protobuf-es writes maps). Records each
 * entry's size and its HeaderValues' size.
 */
function streamOpenSize(open: StreamOpen, plan: Plan): number {
  let size = stringFieldSize(open.id) + stringFieldSize(open.serviceName) + stringFieldSize(open.targetAddr);
  for (const name of Object.keys(open.header)) {
    let valuesSize = 0;
    for (const value of (open.header[name] as HeaderValues).values) {
      const length = utf8Length(value);
      valuesSize += 1 + varintSize(length) + length;
    }
    const keyLength = utf8Length(name);
    const entrySize = 1 + varintSize(keyLength) + keyLength + 1 + varintSize(valuesSize) + valuesSize;
    plan.sizes.push(entrySize, valuesSize);
    size += 1 + varintSize(entrySize) + entrySize;
  }
  return size;
}

function writeStreamOpen(out: Buffer, at: number, open: StreamOpen, plan: Plan, cursor: Cursor): number {
  at = writeString(out, at, TAG_FIELD1_LEN, open.id);
  at = writeString(out, at, TAG_FIELD2_LEN, open.serviceName);
  at = writeString(out, at, TAG_FIELD3_LEN, open.targetAddr);
  for (const name of Object.keys(open.header)) {
    const entrySize = plan.sizes[cursor.size++] as number;
    const valuesSize = plan.sizes[cursor.size++] as number;
    at = writeHeader(out, at, TAG_FIELD4_LEN, entrySize);
    at = writeUtf8(out, writeHeader(out, at, TAG_FIELD1_LEN, utf8Length(name)), name);
    at = writeHeader(out, at, TAG_FIELD2_LEN, valuesSize);
    for (const value of (open.header[name] as HeaderValues).values) {
      at = writeUtf8(out, writeHeader(out, at, TAG_FIELD1_LEN, utf8Length(value)), value);
    }
  }
  return at;
}

function fallbackSize(envelope: Envelope, plan: Plan): number {
  const bytes = toBinary(EnvelopeSchema, envelope);
  plan.fallbacks.push(bytes);
  plan.sizes.push(-1);
  return bytes.length;
}

function writeEnvelope(out: Buffer, envelope: Envelope, plan: Plan, cursor: Cursor): void {
  const inner = plan.sizes[cursor.size++] as number;
  if (inner === -1) {
    const bytes = plan.fallbacks[cursor.fallback++] as Uint8Array;
    out.set(bytes, cursor.at);
    cursor.at += bytes.length;
    return;
  }
  const payload = envelope.payload;
  switch (payload.case) {
    case "streamData": {
      cursor.at = writeHeader(out, cursor.at, TAG_STREAM_DATA, inner);
      cursor.at = writeString(out, cursor.at, TAG_FIELD1_LEN, payload.value.id);
      const seq = Number(payload.value.seq);
      if (seq !== 0) cursor.at = writeVarint(out, writeVarint(out, cursor.at, TAG_FIELD2_VARINT), seq);
      const data = payload.value.data;
      if (data.length > 0) {
        cursor.at = writeHeader(out, cursor.at, TAG_FIELD3_LEN, data.length);
        if (cursor.references && data.length >= REFERENCED_BODY_MIN_BYTES) {
          cursor.references.push({ at: cursor.at, data });
          return;
        }
        out.set(data, cursor.at);
        cursor.at += data.length;
      }
      return;
    }
    case "streamOpen":
      cursor.at = writeHeader(out, cursor.at, TAG_STREAM_OPEN, inner);
      cursor.at = writeStreamOpen(out, cursor.at, payload.value, plan, cursor);
      return;
    case "streamClose":
      cursor.at = writeHeader(out, cursor.at, TAG_STREAM_CLOSE, inner);
      cursor.at = writeString(out, cursor.at, TAG_FIELD1_LEN, payload.value.id);
      cursor.at = writeString(out, cursor.at, TAG_FIELD2_LEN, payload.value.error);
      return;
    case "streamCredit":
      cursor.at = writeHeader(out, cursor.at, TAG_STREAM_CREDIT, inner);
      cursor.at = writeString(out, cursor.at, TAG_FIELD1_LEN, payload.value.id);
      if (payload.value.bytes !== 0) {
        cursor.at = writeVarint(out, writeVarint(out, cursor.at, TAG_FIELD2_VARINT), payload.value.bytes);
      }
      return;
    case "batch":
      cursor.at = writeHeader(out, cursor.at, TAG_BATCH, inner);
      for (const frame of payload.value.frames) {
        // The frame's own size is the next planned entry; its length prefix precedes it.
        const start = cursor.at;
        const frameSize = plannedEnvelopeSize(plan, cursor);
        cursor.at = writeHeader(out, start, TAG_FIELD1_LEN, frameSize);
        writeEnvelope(out, frame, plan, cursor);
      }
      return;
    default:
      throw new Error(`no encoding planned for ${payload.case ?? "an empty envelope"}`);
  }
}

/** Encoded size of `frame` as planned by `envelopeSize`, read without consuming the plan. */
function plannedEnvelopeSize(plan: Plan, cursor: Cursor): number {
  const inner = plan.sizes[cursor.size] as number;
  if (inner === -1) return (plan.fallbacks[cursor.fallback] as Uint8Array).length;
  return 1 + varintSize(inner) + inner;
}

function stringFieldSize(value: string): number {
  if (value.length === 0) return 0;
  return bytesFieldSize(utf8Length(value));
}

/**
 * Strings up to this many UTF-16 units are measured and, when ASCII, written in JavaScript: a
 * header name or value, a stream id. Crossing into C++ (`Buffer.byteLength`, `buf.write`) for
 * each of them cost more than the copy (docs/performance.md, change 17).
 */
const SHORT_STRING_UNITS = 128;

/** `Buffer.byteLength(value, "utf8")`, without leaving JavaScript for short ASCII strings. */
function utf8Length(value: string): number {
  const units = value.length;
  if (units > SHORT_STRING_UNITS) return Buffer.byteLength(value, "utf8");
  for (let i = 0; i < units; i++) if (value.charCodeAt(i) > 0x7f) return Buffer.byteLength(value, "utf8");
  return units;
}

/**
 * Writes `value` as UTF-8 at `at` (its length already measured by utf8Length); returns the end.
 * Short ASCII strings byte by byte, anything else through `buf.write`: the same bytes either way.
 */
function writeUtf8(out: Buffer, at: number, value: string): number {
  const units = value.length;
  if (units <= SHORT_STRING_UNITS) {
    let i = 0;
    for (; i < units; i++) {
      const code = value.charCodeAt(i);
      if (code > 0x7f) break;
      out[at + i] = code;
    }
    if (i === units) return at + units;
  }
  return at + out.write(value, at, "utf8");
}

function bytesFieldSize(length: number): number {
  return length === 0 ? 0 : 1 + varintSize(length) + length;
}

function varintSize(value: number): number {
  if (value < 0x80) return 1;
  if (value < 0x4000) return 2;
  if (value < 0x200000) return 3;
  if (value < 0x10000000) return 4;
  let size = 5;
  for (let rest = Math.floor(value / 0x800000000); rest > 0; rest = Math.floor(rest / 0x80)) size++;
  return size;
}

function writeHeader(out: Buffer, at: number, tag: number, length: number): number {
  out[at] = tag;
  return writeVarint(out, at + 1, length);
}

function writeString(out: Buffer, at: number, tag: number, value: string): number {
  if (value.length === 0) return at;
  return writeUtf8(out, writeHeader(out, at, tag, utf8Length(value)), value);
}

/** Unsigned varint of a non-negative safe integer. */
function writeVarint(out: Buffer, at: number, value: number): number {
  while (value >= 0x80) {
    out[at++] = (value % 0x80) | 0x80;
    value = Math.floor(value / 0x80);
  }
  out[at++] = value;
  return at;
}
