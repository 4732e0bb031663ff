/**
 * The one form of a request path that is routed, checked and forwarded: whatever a visitor
 * wrote, the server matches service prefixes (and, later, access policies) on this path and the
 * backend receives this same path, so no spelling can route one way and mean another.
 *
 * Steps, in order (RFC 3986 §6.2.2, nginx's defaults where the RFC leaves a choice):
 * 1. Every byte must be visible ASCII other than `#` and `\` (RFC 3986 §3.3: neither is a path
 *    character; some backends read `\` as `/`). Otherwise: refused.
 * 2. Percent-encoding (§2.1): `%` must be followed by two hex digits, else refused (nginx: 400).
 *    Encoded unreserved characters (§2.3: `A-Z a-z 0-9 - . _ ~`) are decoded, as §6.2.2.2 says
 *    they are equivalent; every other encoding stays encoded with uppercase hex (§6.2.2.1), so
 *    `%2F` remains data inside a segment, never a separator. `%00` is refused (nginx).
 * 3. Runs of `/` become one (nginx `merge_slashes on`): `//admin` is `/admin`.
 * 4. Dot segments are removed (§5.2.4), after decoding so that `%2e%2e` counts. A `..` that would
 *    climb above the root stays at the root, as nginx and the RFC algorithm do: `/../x` is `/x`.
 *
 * The result is idempotent (normalizing it again changes nothing) and holds no `.` or `..`
 * segment and no `//`.
 */
export type NormalizedPath =
  { readonly ok: true; readonly path: string } | { readonly ok: false; readonly reason: string };

/** `path` is the path alone (origin-form, starting with `/`), without its query. */
export function normalizePath(path: string): NormalizedPath {
  if (path.charCodeAt(0) !== SLASH) return { ok: false, reason: "path does not start with '/'" };
  const decoded = decodeUnreserved(path);
  if (!decoded.ok) return decoded;
  return { ok: true, path: removeDotSegments(decoded.path.replace(/\/{2,}/g, "/")) };
}

/** Origin-form path and query: the path normalized, the query (from the first `?`) kept as sent. */
export function normalizePathAndQuery(target: string): NormalizedPath {
  const queryAt = target.indexOf("?");
  const normalized = normalizePath(queryAt === -1 ? target : target.slice(0, queryAt));
  if (!normalized.ok || queryAt === -1) return normalized;
  return { ok: true, path: normalized.path + target.slice(queryAt) };
}

const SLASH = 47;
const PERCENT = 37;
const HEX = "0123456789ABCDEF";

function decodeUnreserved(path: string): NormalizedPath {
  let out = "";
  let copiedTo = 0;
  for (let i = 0; i < path.length; i++) {
    const code = path.charCodeAt(i);
    if (code < 0x21 || code > 0x7e || code === 0x23 /* # */ || code === 0x5c /* \ */) {
      return { ok: false, reason: `path holds a byte that is not a path character (0x${code.toString(16)})` };
    }
    if (code !== PERCENT) continue;
    const high = hexValue(path.charCodeAt(i + 1));
    const low = hexValue(path.charCodeAt(i + 2));
    if (high < 0 || low < 0) return { ok: false, reason: "path holds a '%' not followed by two hex digits" };
    const byte = high * 16 + low;
    if (byte === 0) return { ok: false, reason: "path holds an encoded NUL (%00)" };
    out +=
      path.slice(copiedTo, i) + (isUnreserved(byte) ? String.fromCharCode(byte) : `%${HEX[high]}${HEX[low]}`);
    copiedTo = i + 3;
    i += 2;
  }
  return { ok: true, path: copiedTo === 0 ? path : out + path.slice(copiedTo) };
}

function hexValue(code: number): number {
  if (code >= 48 && code <= 57) return code - 48;
  if (code >= 65 && code <= 70) return code - 55;
  if (code >= 97 && code <= 102) return code - 87;
  return -1;
}

/** RFC 3986 §2.3: ALPHA / DIGIT / "-" / "." / "_" / "~". */
function isUnreserved(byte: number): boolean {
  return (
    (byte >= 65 && byte <= 90) ||
    (byte >= 97 && byte <= 122) ||
    (byte >= 48 && byte <= 57) ||
    byte === 45 ||
    byte === 46 ||
    byte === 95 ||
    byte === 126
  );
}

/**
 * RFC 3986 §5.2.4 for an absolute path without empty segments but a trailing one: a final `.` or
 * `..` leaves a trailing slash (`/a/b/..` is `/a/`), a `..` at the root is dropped.
 */
function removeDotSegments(path: string): string {
  if (!path.includes(".")) return path;
  const segments = path.split("/");
  const out: string[] = [];
  for (let i = 1; i < segments.length; i++) {
    const segment = segments[i] as string;
    const last = i === segments.length - 1;
    if (segment === "." || segment === "..") {
      if (segment === "..") out.pop();
      if (last) out.push("");
    } else {
      out.push(segment);
    }
  }
  return `/${out.join("/")}`;
}
