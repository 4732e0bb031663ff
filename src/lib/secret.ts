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

/** What a masked part of a URL reads as. */
export const URL_MASK = "***";

/**
 * A URL as logs, admin answers and the CLI show it: the user info and every query parameter
 * value masked, parameter names kept (`https://auth.example/verify?token=***&rd=***`), so that a
 * token an operator put in a URL is never shown while the URL stays recognisable. A query part
 * without `=` could itself be the token and is masked whole; a fragment is masked too. The
 * scheme, host, port and path are shown as they are: a secret belongs in the query, not the
 * path. Masking a masked URL gives it back unchanged. Text that is not a URL is masked whole.
 */
export function maskUrlSecrets(text: string): string {
  if (!URL.canParse(text)) return URL_MASK;
  const url = new URL(text);
  const userInfo =
    url.username === "" && url.password === ""
      ? ""
      : `${URL_MASK}${url.password === "" ? "" : `:${URL_MASK}`}@`;
  const authority = url.host === "" ? "" : `//${userInfo}${url.host}`;
  const query = url.search === "" ? "" : `?${url.search.slice(1).split("&").map(maskParameter).join("&")}`;
  const fragment = url.hash === "" ? "" : `#${URL_MASK}`;
  return `${url.protocol}${authority}${url.pathname}${query}${fragment}`;
}

function maskParameter(part: string): string {
  if (part === "") return part;
  const equals = part.indexOf("=");
  return equals === -1 ? URL_MASK : `${part.slice(0, equals)}=${URL_MASK}`;
}
