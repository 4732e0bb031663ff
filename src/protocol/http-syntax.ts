/**
 * RFC 9110 field syntax, checked before anything from the other side of a tunnel reaches an
 * HTTP message: names are tokens (§5.1), values hold no CR, LF, NUL or other controls except
 * HTAB (§5.5), so no header can be split or smuggled. Field values are octets: a character above
 * U+00FF has no single byte to stand for (node's HTTP writers throw on it), so it is refused too.
 */
const TCHAR = new Uint8Array(128);
for (const char of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") {
  TCHAR[char.charCodeAt(0)] = 1;
}

export function isToken(value: string): boolean {
  if (value.length === 0) return false;
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code >= 128 || TCHAR[code] !== 1) return false;
  }
  return true;
}

export function isFieldValue(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if ((code < 0x20 && code !== 0x09) || code === 0x7f || code > 0xff) return false;
  }
  return true;
}
