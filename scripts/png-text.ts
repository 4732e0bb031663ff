// PNG text metadata and size, read and written without an image library (PNG spec, ISO/IEC
// 15948 / W3C PNG 3rd ed.: §5.2 signature, §5.3 chunk layout, §11.2.1 IHDR, §11.3.3.2 tEXt).
import { crc32 } from "node:zlib";

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

interface Chunk {
  type: string;
  data: Buffer;
  /** Offset of the chunk's length field in the file. */
  offset: number;
}

function chunks(png: Buffer): Chunk[] {
  if (png.length < SIGNATURE.length || !png.subarray(0, SIGNATURE.length).equals(SIGNATURE)) {
    throw new Error("not a PNG file (bad signature)");
  }
  const out: Chunk[] = [];
  let offset = SIGNATURE.length;
  while (offset + 12 <= png.length) {
    const length = png.readUInt32BE(offset);
    const type = png.toString("latin1", offset + 4, offset + 8);
    if (offset + 12 + length > png.length) throw new Error(`PNG chunk ${type} runs past the end of the file`);
    out.push({ type, data: png.subarray(offset + 8, offset + 8 + length), offset });
    offset += 12 + length;
  }
  return out;
}

/** Width and height in pixels, from the IHDR chunk (always the first). */
export function pngSize(png: Buffer): { widthPx: number; heightPx: number } {
  const ihdr = chunks(png)[0];
  if (ihdr?.type !== "IHDR") throw new Error("PNG file does not start with IHDR");
  return { widthPx: ihdr.data.readUInt32BE(0), heightPx: ihdr.data.readUInt32BE(4) };
}

/** The text of the first tEXt chunk named `keyword`, or undefined. */
export function readPngText(png: Buffer, keyword: string): string | undefined {
  for (const chunk of chunks(png)) {
    if (chunk.type !== "tEXt") continue;
    const nul = chunk.data.indexOf(0);
    if (nul !== -1 && chunk.data.toString("latin1", 0, nul) === keyword) {
      return chunk.data.toString("latin1", nul + 1);
    }
  }
  return undefined;
}

/** A copy of `png` with a tEXt chunk (Latin-1 keyword of 1-79 bytes, Latin-1 text) before IEND. */
export function withPngText(png: Buffer, keyword: string, text: string): Buffer {
  if (!/^[\x20-\x7e]{1,79}$/.test(keyword))
    throw new Error(`invalid PNG text keyword ${JSON.stringify(keyword)}`);
  const iend = chunks(png).find((chunk) => chunk.type === "IEND");
  if (iend === undefined) throw new Error("PNG file has no IEND chunk");
  const typeAndData = Buffer.concat([
    Buffer.from("tEXt", "latin1"),
    Buffer.from(`${keyword}\0${text}`, "latin1"),
  ]);
  const chunk = Buffer.alloc(typeAndData.length + 8);
  chunk.writeUInt32BE(typeAndData.length - 4, 0);
  typeAndData.copy(chunk, 4);
  chunk.writeUInt32BE(crc32(typeAndData), chunk.length - 4);
  return Buffer.concat([png.subarray(0, iend.offset), chunk, png.subarray(iend.offset)]);
}
