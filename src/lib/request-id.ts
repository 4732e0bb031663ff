import { randomBytes } from "node:crypto";

const VALID_REQUEST_ID = /^[A-Za-z0-9._:@=+/-]{1,128}$/;

/**
 * The id of one proxied request: the visitor's `X-Request-ID` when it is a short token of safe
 * characters (so traces can span HopGate), otherwise a fresh random one.
 */
export function requestIdFrom(visitorValue: string | string[] | undefined): string {
  const value = Array.isArray(visitorValue) ? visitorValue[0] : visitorValue;
  if (value !== undefined && VALID_REQUEST_ID.test(value)) return value;
  return randomBytes(12).toString("base64url");
}
