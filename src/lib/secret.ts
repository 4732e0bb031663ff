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

/** Replaces the password of a URL-style DSN (`postgres://user:pass@host/db`) with `****`. */
export function maskDsn(dsn: string): string {
  try {
    const url = new URL(dsn);
    if (url.password) url.password = "****";
    return url.toString();
  } catch {
    return dsn.replace(/\/\/([^:/@]*):[^@]*@/, "//$1:****@");
  }
}
