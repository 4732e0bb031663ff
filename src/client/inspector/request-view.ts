import type { CapturedBody } from "./captured-body.js";
import type { LoggedRequest } from "./request-log.js";

/**
 * Headers whose values are credentials, shown masked unless the reader asks (`?reveal=1`):
 * Authorization, Proxy-Authorization, Cookie, Set-Cookie, and by name any that looks like a
 * token (`X-Api-Key`, `X-Auth-Token`, forward auth's `X-Auth-Request-Access-Token`…): the client
 * does not know which header a domain's access policy takes as its secret (`secret_header`),
 * and that header reaches the backend as the visitor sent it.
 */
const SECRET_HEADER_NAME = /authorization|cookie|token|secret|passw|api[-_]?key|credential|session|signature/;

function isSecretHeader(name: string): boolean {
  return SECRET_HEADER_NAME.test(name.toLowerCase());
}

export const MASK = "••••••";
/** Bytes of a binary body shown as hex. */
const HEX_PREVIEW_BYTES = 512;

export interface RequestSummary {
  readonly id: number;
  readonly domain: string;
  readonly service: string;
  readonly method: string;
  readonly host: string;
  readonly path: string;
  readonly status: number | null;
  readonly duration_ms: number | null;
  readonly request_bytes: number;
  readonly response_bytes: number;
  readonly started_at: string;
  readonly error: string | null;
  readonly replay_of: number | null;
}

export type BodyView =
  | { readonly kind: "empty"; readonly size: 0 }
  | {
      readonly kind: "json" | "text";
      readonly size: number;
      readonly truncated: boolean;
      readonly text: string;
    }
  | { readonly kind: "binary"; readonly size: number; readonly truncated: boolean; readonly hex: string };

export function summaryOf(request: LoggedRequest): RequestSummary {
  return {
    id: request.id,
    domain: request.domain,
    service: request.service,
    method: request.method,
    host: headerValue(request.requestHeaders, "host") ?? request.domain,
    path: request.path,
    status: request.status ?? null,
    duration_ms: request.durationMs ?? null,
    request_bytes: request.requestBody.totalBytes,
    response_bytes: request.responseBody.totalBytes,
    started_at: new Date(request.startedAtMs).toISOString(),
    error: request.error ?? null,
    replay_of: request.replayOf ?? null,
  };
}

export function detailOf(request: LoggedRequest, reveal: boolean) {
  const requestHeaders = shownHeaders(request.requestHeaders, reveal);
  return {
    ...summaryOf(request),
    request: {
      headers: requestHeaders,
      body: bodyView(request.requestBody, request.requestHeaders),
      trailers: shownHeaders(request.requestTrailers, reveal),
    },
    response: {
      headers: shownHeaders(request.responseHeaders, reveal),
      body: bodyView(request.responseBody, request.responseHeaders),
      trailers: shownHeaders(request.responseTrailers, reveal),
      /** Of `trailers`, those the visitor never got: [{name, reason, detail}]. */
      withheld_trailers: request.withheldResponseTrailers,
    },
    curl: curlOf(request, requestHeaders),
  };
}

/** Pairs `[name, value]` in order, credential values masked unless `reveal`. */
export function shownHeaders(flat: readonly string[], reveal: boolean): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  for (let i = 0; i < flat.length; i += 2) {
    const name = flat[i] as string;
    const value = flat[i + 1] as string;
    pairs.push([name, !reveal && isSecretHeader(name) ? MASK : value]);
  }
  return pairs;
}

function bodyView(body: CapturedBody, headers: readonly string[]): BodyView {
  if (body.totalBytes === 0) return { kind: "empty", size: 0 };
  const bytes = body.bytes();
  const base = { size: body.totalBytes, truncated: body.truncated };
  const type = (headerValue(headers, "content-type") ?? "").toLowerCase();
  const text = decodeText(bytes, body.truncated);
  if (text === undefined)
    return { kind: "binary", ...base, hex: bytes.subarray(0, HEX_PREVIEW_BYTES).toString("hex") };
  if (/[/+]json\b/.test(type) || (!type && /^\s*[[{]/.test(text))) {
    try {
      return { kind: "json", ...base, text: JSON.stringify(JSON.parse(text), null, 2) };
    } catch {
      // Not whole JSON (or cut at the cap): shown as it is.
    }
  }
  return { kind: "text", ...base, text };
}

/** UTF-8 text without control bytes (but tabs and newlines), else undefined (binary). */
function decodeText(bytes: Buffer, truncated: boolean): string | undefined {
  // A body cut at the cap may end inside a multi-byte character: drop that partial end.
  const text = new TextDecoder("utf-8", { fatal: false }).decode(bytes);
  const clean = truncated ? text.replace(/\uFFFD+$/, "") : text;
  if (clean.includes("\uFFFD") || hasControlCharacter(clean)) return undefined;
  return clean;
}

/** C0 controls but tab, line feed, vertical tab, form feed and carriage return; and DEL. */
function hasControlCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if ((code < 0x20 && (code < 0x09 || code > 0x0d)) || code === 0x7f) return true;
  }
  return false;
}

/** The request as a curl command line against the public URL (credentials as shown). */
function curlOf(request: LoggedRequest, headers: ReadonlyArray<[string, string]>): string {
  const host = headerValue(request.requestHeaders, "host") ?? request.domain;
  const parts = ["curl", "-X", request.method, quote(`https://${host}${request.path}`)];
  for (const [name, value] of headers) {
    if (name.toLowerCase() === "host" || name.toLowerCase() === "content-length") continue;
    parts.push("-H", quote(`${name}: ${value}`));
  }
  if (request.requestBody.totalBytes > 0)
    parts.push("--data-binary", quote(request.requestBody.bytes().toString("utf8")));
  return parts.join(" ");
}

/** POSIX shell single quotes: the only character that needs care inside is the quote itself. */
function quote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

export function headerValue(flat: readonly string[], name: string): string | undefined {
  for (let i = 0; i < flat.length; i += 2) if ((flat[i] as string).toLowerCase() === name) return flat[i + 1];
  return undefined;
}
