/**
 * Whether a normalized path (path-normalization.ts, without its query) holds something a backend
 * may read as a different path than the one the gateway routed and the auth service was told:
 *
 * - an encoded separator, `%2F` or `%5C`, also behind encoded percent signs (`%252F`,
 *   `%25252F`): Express with some settings, Go's RawPath users, Spring, and nginx passing a
 *   decoded `$uri` read `/admin%2Fsecret` as `/admin/secret`, a double-decoding chain
 *   `/admin%252Fsecret` too; RFC 3986 §2.2 makes the encoded form data, so both readings exist;
 * - an encoded dot behind an encoded percent sign (`%252E%252E`): normalization decodes `%2E`,
 *   but a backend that decodes twice meets `..` where the gateway saw none;
 * - a `;` (RFC 3986 §3.3 path parameters): Tomcat, Jetty and Spring drop `;...` from each
 *   segment, so `/admin;x/secret` and `/admin;x` are `/admin/secret` and `/admin` to them.
 *
 * Such a path routes by its literal segments in HopGate; this predicate is for the rules that
 * decide by path (forward auth), which must not be told one path while the backend serves another.
 */
export function isAmbiguousPath(path: string): boolean {
  return path.includes(";") || AMBIGUOUS_ESCAPE.test(path);
}

/** Normalization leaves escapes uppercase, but the predicate must not depend on it. */
const AMBIGUOUS_ESCAPE = /%(?:25)*(?:2F|5C)|%(?:25)+2E/i;
