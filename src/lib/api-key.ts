import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

/**
 * Client API keys: 32 random bytes shown once as 64 lowercase hex characters. The store keeps
 * only their SHA-256 digest (64 hex characters), so a leaked database grants no tunnel.
 */
export const API_KEY_BYTES = 32;

export function generateApiKey(): string {
  return randomBytes(API_KEY_BYTES).toString("hex");
}

/** SHA-256 of the key's UTF-8 bytes as 64 lowercase hex characters. */
export function digestApiKey(key: string): string {
  return createHash("sha256").update(key, "utf8").digest("hex");
}

/** True when `key` hashes to `digestHex`; compares in constant time (crypto.timingSafeEqual). */
export function apiKeyMatchesDigest(key: string, digestHex: string): boolean {
  const expected = Buffer.from(digestHex, "hex");
  const actual = createHash("sha256").update(key, "utf8").digest();
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

/**
 * Compares two secrets in constant time, also with respect to their lengths: both sides are
 * hashed first, so timingSafeEqual always sees 32 bytes and the length of neither leaks.
 */
export function secretsEqual(given: string, expected: string): boolean {
  const a = createHash("sha256").update(given, "utf8").digest();
  const b = createHash("sha256").update(expected, "utf8").digest();
  return timingSafeEqual(a, b);
}
