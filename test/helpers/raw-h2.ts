/**
 * Hand-built HTTP/2 frames (RFC 9113 §4.1) for visitors no real client would be: a HEADERS frame
 * that never ends, a header block sent before the server's SETTINGS are acknowledged. Header
 * blocks use HPACK literals without indexing or Huffman coding (RFC 7541 §6.2.2), so any decoder
 * reads them without state.
 */
export const CLIENT_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

export const FRAME = { data: 0, headers: 1, rstStream: 3, settings: 4, goaway: 7, continuation: 9 } as const;
export const FLAG = { endStream: 0x1, endHeaders: 0x4, ack: 0x1 } as const;

export function frame(
  type: number,
  flags: number,
  streamId: number,
  payload: Buffer = Buffer.alloc(0),
): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head.writeUInt8(type, 3);
  head.writeUInt8(flags, 4);
  head.writeUInt32BE(streamId & 0x7fffffff, 5);
  return Buffer.concat([head, payload]);
}

/** RFC 7541 §5.1 integer with an N-bit prefix (the prefix's other bits zero). */
function hpackInteger(value: number, prefixBits: number): Buffer {
  const max = (1 << prefixBits) - 1;
  if (value < max) return Buffer.from([value]);
  const bytes = [max];
  let rest = value - max;
  while (rest >= 128) {
    bytes.push((rest % 128) + 128);
    rest = Math.floor(rest / 128);
  }
  bytes.push(rest);
  return Buffer.from(bytes);
}

function hpackString(text: string): Buffer {
  const bytes = Buffer.from(text, "latin1");
  return Buffer.concat([hpackInteger(bytes.length, 7), bytes]);
}

/** A header block of literal fields without indexing, new names (RFC 7541 §6.2.2). */
export function headerBlock(fields: ReadonlyArray<readonly [string, string]>): Buffer {
  return Buffer.concat(
    fields.flatMap(([name, value]) => [Buffer.from([0]), hpackString(name), hpackString(value)]),
  );
}

/** HEADERS plus CONTINUATION frames of at most 16 KiB (the default SETTINGS_MAX_FRAME_SIZE). */
export function headersFrames(streamId: number, block: Buffer, endStream: boolean): Buffer {
  const maxFrameBytes = 16 * 1024;
  const frames: Buffer[] = [];
  for (let offset = 0; offset === 0 || offset < block.length; offset += maxFrameBytes) {
    const piece = block.subarray(offset, offset + maxFrameBytes);
    const last = offset + maxFrameBytes >= block.length;
    const flags = (last ? FLAG.endHeaders : 0) | (offset === 0 && endStream ? FLAG.endStream : 0);
    frames.push(frame(offset === 0 ? FRAME.headers : FRAME.continuation, flags, streamId, piece));
  }
  return Buffer.concat(frames);
}

export interface ParsedFrame {
  readonly type: number;
  readonly flags: number;
  readonly streamId: number;
  readonly payload: Buffer;
}

/** Splits a byte string received from the server into whole frames (a trailing partial one is dropped). */
export function parseFrames(bytes: Buffer): ParsedFrame[] {
  const frames: ParsedFrame[] = [];
  let offset = 0;
  while (offset + 9 <= bytes.length) {
    const length = bytes.readUIntBE(offset, 3);
    if (offset + 9 + length > bytes.length) break;
    frames.push({
      type: bytes.readUInt8(offset + 3),
      flags: bytes.readUInt8(offset + 4),
      streamId: bytes.readUInt32BE(offset + 5) & 0x7fffffff,
      payload: bytes.subarray(offset + 9, offset + 9 + length),
    });
    offset += 9 + length;
  }
  return frames;
}
