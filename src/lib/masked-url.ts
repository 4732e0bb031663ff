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
