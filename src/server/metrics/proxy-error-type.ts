import type { HopGateErrorCode } from "../../lib/hopgate-error.js";
import { isHopGateError } from "../../lib/hopgate-error.js";
import type { ProxyErrorType } from "./server-events.js";

/** `not_found` (a host that is not registered) is a visitor's mistake, not a proxy failure. */
const BY_CODE: Partial<Record<HopGateErrorCode | "client_abort", ProxyErrorType | null>> = {
  tunnel_unavailable: "no_tunnel",
  tunnel_closed: "tunnel_closed",
  backend_failed: "backend",
  timeout: "timeout",
  protocol_violation: "protocol",
  payload_too_large: "too_large",
  rate_limited: "rate_limited",
  client_abort: "client_abort",
  request_timeout: "client_abort",
  not_found: null,
  invalid_input: null,
  // Refusals by a domain's access policy are counted in hopgate_access_denied_total instead.
  unauthenticated: null,
  forbidden: null,
};

/**
 * The `hopgate_proxy_errors_total{type}` label for how a proxied request failed, or undefined
 * when the outcome is not counted as a proxy error (an unknown host's 404).
 */
export function proxyErrorTypeOf(code: HopGateErrorCode | "client_abort"): ProxyErrorType | undefined {
  const type = BY_CODE[code];
  return type === null ? undefined : (type ?? "other");
}

/** Like `proxyErrorTypeOf` for a caught error; anything that is not a HopGateError is `other`. */
export function proxyErrorType(error: unknown): ProxyErrorType | undefined {
  return isHopGateError(error) ? proxyErrorTypeOf(error.code) : "other";
}
