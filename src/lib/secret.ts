/**
 * Masks secrets for logs and error messages: API keys, passwords and DSN credentials never
 * appear in full anywhere HopGate writes.
 */

/** `abcdef…` style mask that keeps at most 4 leading characters of a long secret. */
export function maskSecret(value: string): string {
  if (value.length === 0) return "";
  if (value.length < 16) return "****";
  return `${value.slice(0, 4)}****`;
}

/**
 * A DSN or other URL with every password in it replaced by `****`: the user info's
 * (`postgres://user:pass@host/db`) and any parameter whose name holds "pass" (`?password=`,
 * `sslpassword=`, which pg honours as well, and libpq's `key=value` form: `password=secret`).
 */
export function maskDsn(dsn: string): string {
  let masked: string;
  try {
    const url = new URL(dsn);
    if (url.password) url.password = "****";
    masked = url.toString();
  } catch {
    masked = dsn.replace(/\/\/([^:/@]*):[^@]*@/, "//$1:****@");
  }
  return masked.replace(PASSWORD_PARAMETER, "$1$2=****");
}

/** `name=value` whose name holds "pass": in a query (`?`/`&`) or libpq's space-separated form (quoted or not). */
const PASSWORD_PARAMETER = /(^|[?&\s])([^=&?\s]*pass[^=&?\s]*)\s*=\s*('(?:[^'\\]|\\.)*'?|[^&\s]*)/gi;
