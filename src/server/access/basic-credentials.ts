/** Credentials of an `Authorization: Basic` header (RFC 7617). */
export interface BasicCredentials {
  readonly username: string;
  readonly password: string;
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
/** Longest header value looked at: 1024 characters of user-id and password are plenty. */
const MAX_HEADER_CHARS = 2048;

/**
 * Parses `Basic <base64(user-id ":" password)>`; the scheme is case-insensitive (RFC 9110
 * §11.1) and the user-id ends at the first colon (RFC 7617 §2). Undefined for anything else:
 * a missing header, another scheme, bad base64 or no colon.
 */
export function parseBasicCredentials(header: string | undefined): BasicCredentials | undefined {
  if (header === undefined || header.length > MAX_HEADER_CHARS) return undefined;
  const match = /^basic[ \t]+(\S+)[ \t]*$/i.exec(header);
  const encoded = match?.[1];
  if (encoded === undefined || encoded.length % 4 !== 0 || !BASE64.test(encoded)) return undefined;
  const decoded = Buffer.from(encoded, "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon === -1) return undefined;
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}
