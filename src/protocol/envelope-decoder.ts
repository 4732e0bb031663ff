import { fromBinary } from "@bufbuild/protobuf";
import { decodeShortString } from "./ascii-string-cache.js";
import { envelope } from "./frames.js";
import { emptyFieldMap } from "./wire-headers.js";
import {
  EnvelopeSchema,
  type Envelope,
  type StreamClose,
  type StreamCredit,
  type StreamData,
  type StreamOpen,
  type StreamTrailers,
} from "./gen/hopgate/protocol/v1/tunnel_pb.js";

/**
 * A StreamData as the tunnel decodes it: a body that arrived split across HTTP/2 chunks is
 * `data` followed by the pieces in `more`, in order (split-message-decoder.ts).
 */
export type DecodedStreamData = StreamData & { readonly more?: readonly Uint8Array[] };

/**
 * Parses one Envelope. The traffic frames (StreamOpen, StreamData, StreamCredit, StreamClose,
 * StreamTrailers and batches of them) are read field by field, with body bytes as views into `bytes` (no copy); any other
 * envelope goes to protobuf-es's `fromBinary`, so that every field the schema knows is read the
 * same way. A batch inside a batch is returned empty, without decoding it: the multiplexer
 * reports it as a violation, and nesting cannot make the decoder recurse. Throws on malformed
 * protobuf.
 */
export function decodeEnvelope(bytes: Uint8Array, nested = false): Envelope {
  const reader = new WireReader(bytes, 0, bytes.length);
  let payload: Envelope["payload"] = { case: undefined };
  while (reader.more()) {
    const tag = reader.varint();
    if ((tag & 7) !== 2) return fromBinary(EnvelopeSchema, bytes);
    const field = tag >>> 3;
    const end = reader.lengthEnd();
    const start = reader.at;
    if (field === 4) payload = { case: "streamData", value: decodeStreamData(bytes, start, end) };
    else if (field === 3) payload = { case: "streamOpen", value: streamOpen(bytes, start, end) };
    else if (field === 5) payload = { case: "streamClose", value: streamClose(bytes, start, end) };
    else if (field === 9) payload = { case: "streamCredit", value: streamCredit(bytes, start, end) };
    else if (field === 8) payload = { case: "batch", value: batch(bytes, start, end, nested) };
    else if (field === 14) payload = { case: "streamTrailers", value: streamTrailers(bytes, start, end) };
    else return fromBinary(EnvelopeSchema, bytes);
    reader.at = end;
  }
  return envelope(payload);
}

/** The StreamData message in `bytes` [start, end); body bytes are a view into `bytes`. */
export function decodeStreamData(bytes: Uint8Array, start: number, end: number): StreamData {
  const reader = new WireReader(bytes, start, end);
  const value: StreamData = {
    $typeName: "hopgate.protocol.v1.StreamData",
    id: "",
    seq: 0n,
    data: EMPTY,
  };
  while (reader.more()) {
    const tag = reader.varint();
    if (tag === ((1 << 3) | 2)) value.id = reader.string();
    else if (tag === 2 << 3) value.seq = reader.uint64();
    else if (tag === ((3 << 3) | 2)) value.data = reader.bytes();
    else reader.skip(tag);
  }
  return value;
}

function streamOpen(bytes: Uint8Array, start: number, end: number): StreamOpen {
  const reader = new WireReader(bytes, start, end);
  // A map that inherits nothing: a header named "__proto__" stays an ordinary entry.
  const header: StreamOpen["header"] = emptyFieldMap();
  const value: StreamOpen = {
    $typeName: "hopgate.protocol.v1.StreamOpen",
    id: "",
    serviceName: "",
    targetAddr: "",
    header,
  };
  while (reader.more()) {
    const tag = reader.varint();
    if (tag === ((1 << 3) | 2)) value.id = reader.string();
    else if (tag === ((2 << 3) | 2)) value.serviceName = reader.string();
    else if (tag === ((3 << 3) | 2)) value.targetAddr = reader.string();
    else if (tag === ((4 << 3) | 2)) headerEntry(reader, header);
    else reader.skip(tag);
  }
  return value;
}

/**
 * One map entry (key 1, value 2); a later entry for the same name replaces it, as in protobuf.
 * Read with `reader` itself, its end narrowed to the entry and then to the values: no reader
 * object per entry, and the values array sized to its one value in the usual case.
 */
function headerEntry(reader: WireReader, header: StreamOpen["header"]): void {
  const end = reader.lengthEnd();
  const outerEnd = reader.narrow(end);
  let name = "";
  let first: string | undefined;
  let values: string[] | undefined;
  while (reader.more()) {
    const tag = reader.varint();
    if (tag === ((1 << 3) | 2)) name = reader.string();
    else if (tag === ((2 << 3) | 2)) {
      // A value field seen twice merges, as protobuf merges a repeated message field.
      const valuesEnd = reader.lengthEnd();
      reader.narrow(valuesEnd);
      while (reader.more()) {
        const valueTag = reader.varint();
        if (valueTag !== ((1 << 3) | 2)) reader.skip(valueTag);
        else if (first === undefined) first = reader.string();
        else (values ??= [first]).push(reader.string());
      }
      reader.narrow(end);
    } else reader.skip(tag);
  }
  reader.narrow(outerEnd);
  header[name] = {
    $typeName: "hopgate.protocol.v1.HeaderValues",
    values: values ?? (first === undefined ? [] : [first]),
  };
}

/** Read here, not by `fromBinary`: its header map must inherit nothing, like StreamOpen's. */
function streamTrailers(bytes: Uint8Array, start: number, end: number): StreamTrailers {
  const reader = new WireReader(bytes, start, end);
  const header: StreamTrailers["header"] = emptyFieldMap();
  const value: StreamTrailers = { $typeName: "hopgate.protocol.v1.StreamTrailers", id: "", header };
  while (reader.more()) {
    const tag = reader.varint();
    if (tag === ((1 << 3) | 2)) value.id = reader.string();
    else if (tag === ((2 << 3) | 2)) headerEntry(reader, header);
    else reader.skip(tag);
  }
  return value;
}

function streamClose(bytes: Uint8Array, start: number, end: number): StreamClose {
  const reader = new WireReader(bytes, start, end);
  const value: StreamClose = { $typeName: "hopgate.protocol.v1.StreamClose", id: "", error: "" };
  while (reader.more()) {
    const tag = reader.varint();
    if (tag === ((1 << 3) | 2)) value.id = reader.string();
    else if (tag === ((2 << 3) | 2)) value.error = reader.string();
    else reader.skip(tag);
  }
  return value;
}

function streamCredit(bytes: Uint8Array, start: number, end: number): StreamCredit {
  const reader = new WireReader(bytes, start, end);
  const value: StreamCredit = { $typeName: "hopgate.protocol.v1.StreamCredit", id: "", bytes: 0 };
  while (reader.more()) {
    const tag = reader.varint();
    if (tag === ((1 << 3) | 2)) value.id = reader.string();
    else if (tag === 2 << 3)
      value.bytes = reader.varint() >>> 0; // uint32 keeps the low 32 bits
    else reader.skip(tag);
  }
  return value;
}

function batch(bytes: Uint8Array, start: number, end: number, nested: boolean) {
  const frames: Envelope[] = [];
  const value = { $typeName: "hopgate.protocol.v1.FrameBatch" as const, frames };
  if (nested) return value;
  const reader = new WireReader(bytes, start, end);
  while (reader.more()) {
    const tag = reader.varint();
    if (tag !== ((1 << 3) | 2)) {
      reader.skip(tag);
      continue;
    }
    const frameEnd = reader.lengthEnd();
    frames.push(decodeEnvelope(bytes.subarray(reader.at, frameEnd), true));
    reader.at = frameEnd;
  }
  return value;
}

const EMPTY = new Uint8Array(0);

/** Protobuf wire format (protobuf.dev/programming-guides/encoding) over a range of bytes. */
class WireReader {
  at: number;
  /** The whole buffer this reader reads a range of. */
  readonly source: Uint8Array;
  #end: number;

  constructor(bytes: Uint8Array, start: number, end: number) {
    this.source = bytes;
    this.at = start;
    this.#end = end;
  }

  /** Reads on only up to `end` (within the current range); returns the end it replaces. */
  narrow(end: number): number {
    const previous = this.#end;
    this.#end = end;
    return previous;
  }

  more(): boolean {
    return this.at < this.#end;
  }

  /** A varint as a number; exact up to 2^53, which covers every field read this way. */
  varint(): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.at >= this.#end) throw new Error("truncated varint");
      const byte = this.source[this.at++] as number;
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) return value;
      scale *= 0x80;
    }
    throw new Error("varint longer than 10 bytes");
  }

  uint64(): bigint {
    const start = this.at;
    const value = this.varint();
    if (value <= Number.MAX_SAFE_INTEGER) return BigInt(value);
    // Beyond 2^53: read it exactly (such a seq is absurd, but must not be misread).
    let exact = 0n;
    for (let i = this.at - 1; i >= start; i--)
      exact = (exact << 7n) | BigInt((this.source[i] as number) & 0x7f);
    return BigInt.asUintN(64, exact);
  }

  /** End offset of the length-delimited field whose length comes next. */
  lengthEnd(): number {
    const length = this.varint();
    const end = this.at + length;
    if (end > this.#end) throw new Error("length-delimited field beyond the message");
    return end;
  }

  bytes(): Uint8Array {
    const end = this.lengthEnd();
    const value = this.source.subarray(this.at, end);
    this.at = end;
    return value;
  }

  string(): string {
    const end = this.lengthEnd();
    const value = decodeShortString(this.source, this.at, end);
    this.at = end;
    return value;
  }

  /** Skips a field of an unknown number: varint, 64-bit, length-delimited or 32-bit. */
  skip(tag: number): void {
    switch (tag & 7) {
      case 0:
        this.varint();
        return;
      case 1:
        this.at += 8;
        break;
      case 2:
        this.at = this.lengthEnd();
        return;
      case 5:
        this.at += 4;
        break;
      default:
        throw new Error(`unsupported wire type ${tag & 7}`);
    }
    if (this.at > this.#end) throw new Error("field beyond the message");
  }
}
