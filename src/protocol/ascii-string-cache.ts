/**
 * Short ASCII strings decoded from the tunnel's frames, kept by their bytes: the header names and
 * most values of a StreamOpen (`content-type`, `X-HopGate-Method`, `GET`, `200`) repeat in every
 * request, and decoding each anew was a tenth of a tunnel process's allocation per request
 * (docs/performance.md, change 11). A hit returns the string decoded before, allocating nothing.
 *
 * Direct-mapped, SLOTS entries of at most MAX_BYTES bytes: a few tens of KB at most. A string
 * enters only when its slot saw the same hash just before, i.e. on its second sighting, so that
 * one-off strings (stream and request ids, paths) do not stay referenced from the table, where
 * they would survive scavenges and be promoted to the old generation.
 */
const SLOTS = 512;
const MAX_CACHED_BYTES = 64;

const hashes = new Int32Array(SLOTS);
const strings: Array<string | undefined> = new Array<string | undefined>(SLOTS).fill(undefined);
const utf8 = new TextDecoder();

/** `bytes` [start, end) as a string (UTF-8), from the cache when they are short ASCII seen before. */
export function decodeShortString(bytes: Uint8Array, start: number, end: number): string {
  if (end - start > MAX_CACHED_BYTES) return utf8.decode(bytes.subarray(start, end));
  // FNV-1a over the bytes, stopping at the first non-ASCII one.
  let hash = 0x811c9dc5 | 0;
  for (let i = start; i < end; i++) {
    const byte = bytes[i] as number;
    if (byte >= 0x80) return utf8.decode(bytes.subarray(start, end));
    hash = Math.imul(hash ^ byte, 0x01000193);
  }
  const slot = hash >>> 23; // the top 9 bits: SLOTS = 2^9
  const cached = strings[slot];
  if (cached !== undefined && sameAscii(cached, bytes, start, end)) return cached;
  const value = utf8.decode(bytes.subarray(start, end));
  if (hashes[slot] === hash) strings[slot] = value;
  else hashes[slot] = hash;
  return value;
}

function sameAscii(value: string, bytes: Uint8Array, start: number, end: number): boolean {
  if (value.length !== end - start) return false;
  for (let i = 0; i < value.length; i++) if (value.charCodeAt(i) !== bytes[start + i]) return false;
  return true;
}
