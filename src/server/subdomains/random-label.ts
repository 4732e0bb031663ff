import { randomBytes } from "node:crypto";

/** RFC 4648 §6 base32 in lowercase: every character is valid in a DNS label. */
const ALPHABET = "abcdefghijklmnopqrstuvwxyz234567";
const LABEL_BYTES = 10;

/**
 * A label for `--domain auto`: 16 base32 characters of crypto.randomBytes (about 79 bits, the
 * first character a letter), so that nobody finds a tunnel by guessing names. Certificate
 * transparency logs do publish names that get certificates (docs/access.md).
 */
export function randomLabel(): string {
  const bytes = randomBytes(LABEL_BYTES);
  let bits = 0;
  let value = 0;
  let out = "";
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += ALPHABET[(value >>> bits) & 31];
    }
  }
  return ALPHABET[(bytes[0] ?? 0) % 26] + out.slice(1);
}
