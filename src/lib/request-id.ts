import { randomBytes } from "node:crypto";

/** Header that carries the id to the backend (and that a trusted upstream may send to correlate). */
export const REQUEST_ID_HEADER = "x-request-id";

/**
 * A visitor's id is kept when it is 1-128 characters of letters, digits and `-_.:/+=@`: enough for
 * UUIDs, ULIDs, W3C trace ids and base64, and nothing that could break a log line or a header.
 */
const VALID_REQUEST_ID = /^[A-Za-z0-9._:/+=@-]{1,128}$/;

/**
 * The request id of a proxied request. At the edge (`trustUpstream` false, the default) the
 * visitor's `X-Request-ID` is ignored and a new random id (16 URL-safe characters, 96 bits) is
 * made, as Envoy does for edge requests: a visitor must not choose the id our logs are keyed on.
 * Behind a trusted proxy (`HOP_SERVER_TRUST_REQUEST_ID`) a valid single upstream value is kept.
 */
export function requestIdFrom(
  headerValue: string | readonly string[] | undefined,
  trustUpstream: boolean,
): string {
  if (!trustUpstream) return newRequestId();
  const value: string | undefined =
    typeof headerValue === "string" ? headerValue : headerValue?.length === 1 ? headerValue.at(0) : undefined;
  return typeof value === "string" && VALID_REQUEST_ID.test(value) ? value : newRequestId();
}

/** Random bytes drawn 4 KiB at a time: one `randomBytes` call per request was 4 % of the server's CPU. */
const POOL_BYTES = 12 * 341;
let pool = Buffer.alloc(0);
let poolOffset = 0;

export function newRequestId(): string {
  if (poolOffset + 12 > pool.length) {
    pool = randomBytes(POOL_BYTES);
    poolOffset = 0;
  }
  poolOffset += 12;
  return pool.toString("base64url", poolOffset - 12, poolOffset);
}
