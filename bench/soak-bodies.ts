// What the soak's backend sends, known to its visitors too: each download names a seed, the
// backend (backend.ts, another process) sends that seed's body, and the visitor compares the
// SHA-256 of what arrived with the digest it computes itself for the seed. A truncated, corrupted,
// reordered or misdelivered body (another visitor's) fails the exchange, not only a wrong length.
import { createHash } from "node:crypto";

/** Largest seeded body: the bodies are windows of one fixed pseudo-random buffer of this size. */
export const MAX_SEEDED_BODY_BYTES = 1024 * 1024;
const DIGEST_BYTES = 32;
/** Odd and prime: consecutive seeds start their bodies far apart in the base. */
const SEED_STRIDE = 7919;

let base: Buffer | undefined;

/** MAX_SEEDED_BODY_BYTES of SHA-256 in counter mode: the same bytes in every process, no I/O. */
function baseBytes(): Buffer {
  if (base) return base;
  const bytes = Buffer.alloc(MAX_SEEDED_BODY_BYTES);
  for (let block = 0; block * DIGEST_BYTES < bytes.length; block++)
    createHash("sha256")
      .update(`hopgate soak ${block}`)
      .digest()
      .copy(bytes, block * DIGEST_BYTES);
  return (base = bytes);
}

/** Path of the backend route that answers `soakBody(seed, bytes)`. */
export function seededBodyPath(seed: number, bytes: number): string {
  return `/seeded?bytes=${bytes}&seed=${seed}`;
}

/**
 * The body for `seed` as the pieces to send in order (no copy): `bytes` bytes of the base,
 * starting at an offset given by the seed and wrapping round its end.
 */
export function seededBody(seed: number, bytes: number): Buffer[] {
  if (!Number.isInteger(bytes) || bytes < 0 || bytes > MAX_SEEDED_BODY_BYTES)
    throw new RangeError(`a seeded body has 0 to ${MAX_SEEDED_BODY_BYTES} bytes, not ${bytes}`);
  if (!Number.isSafeInteger(seed) || seed < 0) throw new RangeError(`bad seed ${seed}`);
  const all = baseBytes();
  const start = (seed * SEED_STRIDE) % all.length;
  const head = all.subarray(start, Math.min(all.length, start + bytes));
  return head.length === bytes ? [head] : [head, all.subarray(0, bytes - head.length)];
}

/** Hex SHA-256 of the seed's body, as the visitor expects it. */
export function seededBodyDigest(seed: number, bytes: number): string {
  return sha256Hex(seededBody(seed, bytes));
}

/** The backend's `/sse` event `index`; `count` of them make the whole event-stream body. */
export function soakEvent(index: number): string {
  return `id: ${index}\ndata: event ${index}\n\n`;
}

export function soakEventsDigest(count: number): string {
  return sha256Hex(Array.from({ length: count }, (_, i) => Buffer.from(soakEvent(i))));
}

export function sha256Hex(pieces: readonly Buffer[]): string {
  const hash = createHash("sha256");
  for (const piece of pieces) hash.update(piece);
  return hash.digest("hex");
}
