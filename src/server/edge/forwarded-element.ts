import { isIPv4, isIPv6 } from "node:net";
import { canonicalAddress } from "../access/ip-rules.js";

/**
 * What one RFC 7239 forwarded-element says about the node its proxy received the request from:
 * its `for` value (unquoted), that it has none, or that it does not parse.
 */
export type ForwardedFor =
  { readonly t: "for"; readonly node: string } | { readonly t: "none" } | { readonly t: "malformed" };

/**
 * The forwarded-elements of one `Forwarded` field line, left to right (RFC 7239 §4):
 *
 *     Forwarded         = 1#forwarded-element
 *     forwarded-element = [ forwarded-pair ] *( ";" [ forwarded-pair ] )
 *     forwarded-pair    = token "=" value
 *     value             = token / quoted-string
 *
 * Empty list elements are skipped (RFC 9110 §5.6.1) and whitespace is allowed around `,` and
 * `;`, not around `=`. Parameter names are case-insensitive. An element whose pairs name no
 * `for` is `none`. An element that breaks the grammar (a value that is neither token nor
 * quoted-string, such as an unquoted `for=192.0.2.1:80`; an unterminated quote; a parameter
 * twice, which §4 forbids) is `malformed`, and so is the rest of its line: after a syntax error
 * nothing tells where the next element starts (an open quote may have swallowed it), so the
 * parse never resynchronises and an element is only ever read from where a clean parse put it.
 */
export function forwardedElements(line: string): ForwardedFor[] {
  const elements: ForwardedFor[] = [];
  const scan = { text: line, at: 0 };
  for (;;) {
    skipWhitespace(scan);
    const element = readElement(scan);
    if (element === undefined) return [...elements, { t: "malformed" }];
    if (element !== "empty") elements.push(element);
    skipWhitespace(scan);
    if (scan.at === line.length) return elements;
    if (line[scan.at] !== ",") return [...elements, { t: "malformed" }];
    scan.at++;
  }
}

/**
 * The address an RFC 7239 §6 node names, canonical (ip-rules.ts canonicalAddress); undefined
 * for `unknown` (§6.2), an obfuscated identifier (§6.3, `_hidden`) and anything that is not
 * `IPv4address` or `"[" IPv6address "]"`, either with an optional port or obfuscated port.
 * An IPv6 address must be bracketed, an IPv4 one must not.
 */
export function forwardedNodeAddress(node: string): string | undefined {
  const match = /^(?:\[([^\]]*)\]|([^[\]:]*))(?::(?:\d{1,5}|_[A-Za-z0-9._-]+))?$/.exec(node);
  if (!match) return undefined;
  const [, v6, v4] = match;
  if (v6 !== undefined) return isIPv6(v6) ? canonicalAddress(v6)?.address : undefined;
  return v4 !== undefined && isIPv4(v4) ? v4 : undefined;
}

interface Scan {
  readonly text: string;
  at: number;
}

/** One element up to (not including) the `,` or end of line that follows it; undefined: malformed. */
function readElement(scan: Scan): ForwardedFor | "empty" | undefined {
  // No prototype: a parameter named `__proto__` or `constructor` is an ordinary name.
  const pairs = new Map<string, string>();
  let sawSemicolon = false;
  for (;;) {
    skipWhitespace(scan);
    if (isTokenChar(scan.text.charCodeAt(scan.at))) {
      const name = readToken(scan).toLowerCase();
      if (scan.text[scan.at] !== "=") return undefined;
      scan.at++;
      const value = scan.text[scan.at] === '"' ? readQuoted(scan) : readToken(scan);
      if (value === undefined || value === "" || pairs.has(name)) return undefined;
      pairs.set(name, value);
      skipWhitespace(scan);
    }
    const next = scan.text[scan.at];
    if (next === undefined || next === ",") break;
    if (next !== ";") return undefined;
    sawSemicolon = true;
    scan.at++;
  }
  if (pairs.size === 0 && !sawSemicolon) return "empty";
  const node = pairs.get("for");
  return node === undefined ? { t: "none" } : { t: "for", node };
}

/** RFC 9110 §5.6.2 tchar, by character code. */
const TOKEN_CHARS = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
  TOKEN_CHARS[c.charCodeAt(0)] = 1;

/** NaN (past the end) and non-ASCII are no tchar. */
function isTokenChar(code: number): boolean {
  return TOKEN_CHARS[code] === 1;
}

function readToken(scan: Scan): string {
  const start = scan.at;
  while (isTokenChar(scan.text.charCodeAt(scan.at))) scan.at++;
  return scan.text.slice(start, scan.at);
}

/**
 * RFC 9110 §5.6.4 quoted-string, starting at its opening quote; its content with quoted-pairs
 * undone, or undefined when it does not close or holds a character qdtext does not allow.
 */
function readQuoted(scan: Scan): string | undefined {
  const { text } = scan;
  let value = "";
  let from = ++scan.at;
  for (; scan.at < text.length; scan.at++) {
    const code = text.charCodeAt(scan.at);
    if (code === 0x22) {
      value += text.slice(from, scan.at++);
      return value;
    }
    if (code === 0x5c) {
      value += text.slice(from, scan.at++);
      from = scan.at;
      if (!isQuotedText(text.charCodeAt(scan.at))) return undefined;
    } else if (!isQuotedText(code)) {
      return undefined;
    }
  }
  return undefined;
}

/** What qdtext and quoted-pair allow besides `"` and `\`: HTAB, SP, VCHAR, obs-text. */
function isQuotedText(code: number): boolean {
  return code === 0x09 || (code >= 0x20 && code <= 0xff && code !== 0x7f);
}

/** RFC 9110 §5.6.3 OWS. */
function skipWhitespace(scan: Scan): void {
  while (scan.text[scan.at] === " " || scan.text[scan.at] === "\t") scan.at++;
}
