/**
 * The spellings in a normalized path (path-normalization.ts, without its query) that a backend
 * may read as a different path than the one the gateway routed and the auth service was told:
 *
 * - `encoded_slash`, `%2F`, and `encoded_backslash`, `%5C`: Express with some settings, Go's
 *   RawPath users, Spring, and nginx passing a decoded `$uri` read `/admin%2Fsecret` as
 *   `/admin/secret`; RFC 3986 §2.2 makes the encoded form data, so both readings exist;
 * - `double_encoded`, an encoded slash, backslash or dot behind encoded percent signs (`%252F`,
 *   `%25252F`, `%252E%252E`): normalization decodes `%2E` once, but a backend that decodes twice
 *   meets `/` or `..` where the gateway saw none;
 * - `semicolon`, `;` (RFC 3986 §3.3 path parameters): Tomcat, Jetty and Spring drop `;...` from
 *   each segment, so `/admin;x/secret` and `/admin;x` are `/admin/secret` and `/admin` to them.
 *
 * Such a path routes by its literal segments in HopGate; this is for the rules that decide by
 * path (forward auth), which must not be told one path while the backend serves another unless
 * the operator declared that the backend reads these forms literally (docs/access.md).
 */
export const AMBIGUOUS_PATH_FORMS = [
  "encoded_slash",
  "encoded_backslash",
  "double_encoded",
  "semicolon",
] as const;
export type AmbiguousPathForm = (typeof AMBIGUOUS_PATH_FORMS)[number];

/**
 * Whether `path` holds a form that `allowed` does not name. Each occurrence is one form only:
 * `%252F` is `double_encoded` (allowing `encoded_slash` does not let it through, nor the other
 * way round). Normalization leaves escapes uppercase, but the answer must not depend on it.
 */
export function isAmbiguousPath(path: string, allowed: ReadonlySet<AmbiguousPathForm> = NONE): boolean {
  if (allowed.size === 0) return path.includes(";") || ANY_FORM.test(path);
  for (const match of path.matchAll(EACH_FORM)) if (!allowed.has(formOf(match[0]))) return true;
  return false;
}

const NONE: ReadonlySet<AmbiguousPathForm> = new Set();
const ANY_FORM = /%(?:25)*(?:2F|5C)|%(?:25)+2E/i;
/** Double-encoded first: `%252F` must not be read as a `%25` followed by something else. */
const EACH_FORM = /%(?:25)+(?:2F|5C|2E)|%2F|%5C|;/gi;

function formOf(match: string): AmbiguousPathForm {
  if (match === ";") return "semicolon";
  if (match.length > 3) return "double_encoded";
  return match.toUpperCase() === "%2F" ? "encoded_slash" : "encoded_backslash";
}
