import type { Writable } from "node:stream";
import { createHash, randomBytes } from "node:crypto";

const BLOCK_BYTES = 64 * 1024;
const BLOCK = randomBytes(BLOCK_BYTES);

/**
 * `length` bytes of pseudo-random content, as chunks of `chunkBytes`. Each 64 KiB block is
 * stamped with its number, so reordered or duplicated data changes the digest; the content does
 * not depend on the chunk size.
 */
export function* payload(length: number, chunkBytes = BLOCK_BYTES): Generator<Buffer> {
  for (let offset = 0, block = 0; offset < length; offset += BLOCK_BYTES, block++) {
    const stamped = Buffer.from(BLOCK.subarray(0, Math.min(BLOCK_BYTES, length - offset)));
    if (stamped.length >= 4) stamped.writeUInt32BE(block >>> 0, 0);
    for (let at = 0; at < stamped.length; at += chunkBytes) yield stamped.subarray(at, at + chunkBytes);
  }
}

export function payloadDigest(length: number): string {
  const hash = createHash("sha256");
  for (const chunk of payload(length)) hash.update(chunk);
  return hash.digest("hex");
}

export function sha256(data: Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

/**
 * Writes `length` payload bytes to `res` honouring backpressure, then ends it. (A `for...of`
 * left early would close the generator, hence the explicit iterator.)
 */
export function writePayload(res: Writable, length: number, chunkBytes?: number): void {
  const chunks = payload(length, chunkBytes);
  const pump = () => {
    for (let next = chunks.next(); !next.done; next = chunks.next()) {
      if (!res.write(next.value)) return void res.once("drain", pump);
    }
    res.end();
  };
  res.once("close", () => chunks.return(undefined));
  pump();
}
