/**
 * The one error type of HopGate (STYLE.md rule 5). Code decides behaviour; the message is for
 * operators' logs and is never shown to a visitor. Only the proxy's error mapper and the admin
 * API's error handler turn codes into HTTP statuses.
 */
export type HopGateErrorCode =
  | "invalid_input"
  | "unauthenticated"
  | "forbidden"
  | "not_found"
  | "conflict"
  | "payload_too_large"
  | "unsupported_media_type"
  | "method_not_allowed"
  | "rate_limited"
  | "unavailable"
  | "tunnel_unavailable"
  | "tunnel_closed"
  | "backend_failed"
  | "timeout"
  | "request_timeout"
  | "protocol_violation"
  | "config_invalid"
  | "internal";

export class HopGateError extends Error {
  override readonly name = "HopGateError";

  constructor(
    readonly code: HopGateErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** True when `error` is a HopGateError with one of `codes` (any code when none given). */
export function isHopGateError(error: unknown, ...codes: HopGateErrorCode[]): error is HopGateError {
  return error instanceof HopGateError && (codes.length === 0 || codes.includes(error.code));
}
