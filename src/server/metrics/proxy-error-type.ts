import type { HopGateErrorCode } from "../../lib/hopgate-error.js";
import { isHopGateError } from "../../lib/hopgate-error.js";
import type { ProxyErrorType } from "./server-events.js";

const BY_CODE: Partial<Record<HopGateErrorCode, ProxyErrorType>> = {
  tunnel_unavailable: "no_tunnel",
  tunnel_closed: "tunnel_closed",
  backend_failed: "backend",
  timeout: "timeout",
  protocol_violation: "protocol",
  payload_too_large: "too_large",
  rate_limited: "rate_limited",
};

/**
 * The `hopgate_proxy_errors_total{type}` label for an error the proxy caught. The proxy reports
 * a visitor that went away itself (`client_abort`): Node signals that as a closed request, not as
 * a HopGateError.
 */
export function proxyErrorType(error: unknown): ProxyErrorType {
  return (isHopGateError(error) ? BY_CODE[error.code] : undefined) ?? "other";
}
