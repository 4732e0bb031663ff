/**
 * Label values shared by the server's and the client's metrics. Every label that could come from
 * a visitor is mapped onto a closed set here, so that no request can create a new series
 * (STYLE.md rule 9; Caddy labels unknown hosts `_other` the same way).
 */

/** The label value for anything outside a label's closed set. */
export const OTHER_LABEL = "_other";

/** RFC 9110 §9 methods plus PATCH (RFC 5789); every other method is counted as `_other`. */
export const HTTP_METHOD_LABELS = [
  "GET",
  "HEAD",
  "POST",
  "PUT",
  "DELETE",
  "PATCH",
  "OPTIONS",
  "CONNECT",
  "TRACE",
] as const;

const KNOWN_METHODS: ReadonlySet<string> = new Set(HTTP_METHOD_LABELS);

/** Request durations from 5 ms to 60 s (the longest default proxy timeout), in seconds. */
export const REQUEST_DURATION_BUCKETS_SECONDS: readonly number[] = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
];

/** Node reports methods upper-case as received; a lower-case `get` is not GET (RFC 9110 §9.1). */
export function methodLabel(method: string): string {
  return KNOWN_METHODS.has(method) ? method : OTHER_LABEL;
}

/** The numeric status code (`"200"`); anything that is not a status code (RFC 9110 §15) is `_other`. */
export function statusLabel(status: number): string {
  return Number.isInteger(status) && status >= 100 && status <= 599 ? String(status) : OTHER_LABEL;
}
