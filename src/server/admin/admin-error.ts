import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { HopGateError, isHopGateError, type HopGateErrorCode } from "../../lib/hopgate-error.js";
import type { Logger } from "../../lib/logger.js";

/**
 * The admin API's one error handler (STYLE.md rule 5): every failure, thrown anywhere in the
 * app, becomes `{"success":false,"error":{"code","message"}}` with the status of its code.
 * Messages of client errors (4xx) are HopGate's own text and are shown. For 5xx, a message is
 * shown only when the error has no cause (e.g. "admin API disabled"); otherwise it may hold
 * driver or stack text and is replaced by a fixed one. Internal faults never show their text.
 */
export interface ErrorBody {
  readonly success: false;
  readonly error: { readonly code: string; readonly message: string };
}

const STATUS_BY_CODE: Partial<Record<HopGateErrorCode, ContentfulStatusCode>> = {
  invalid_input: 400,
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  conflict: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  rate_limited: 429,
  unavailable: 503,
};

const CODE_BY_STATUS = new Map<number, HopGateErrorCode>(
  Object.entries(STATUS_BY_CODE).map(([code, status]) => [status, code as HopGateErrorCode]),
);

export function errorResponse(
  c: Context,
  error: unknown,
  logger: Logger,
  headers: Record<string, string> = {},
): Response {
  const failure = asHopGateError(error);
  const status = STATUS_BY_CODE[failure.code] ?? 500;
  let message = failure.message;
  if (status >= 500) {
    logger[status === 500 ? "error" : "warn"]({ err: error, path: c.req.path }, "admin request failed");
    if (status === 500) message = "internal error";
    else if (failure.cause !== undefined) message = status === 503 ? "store unavailable" : "server error";
  }
  const code = status === 500 ? "internal" : failure.code;
  if (failure.code === "unauthenticated") {
    // RFC 6750 §3: a challenge on every 401; "invalid_token" when a token was presented.
    const presented = (c.req.header("authorization") ?? "").trim() !== "";
    c.header("WWW-Authenticate", `Bearer realm="hopgate-admin"${presented ? ', error="invalid_token"' : ""}`);
  }
  return c.json({ success: false, error: { code, message } } satisfies ErrorBody, status, headers);
}

/** Hono's own exceptions (malformed JSON, ...) carry a status; map it back to a code. */
function asHopGateError(error: unknown): HopGateError {
  if (isHopGateError(error)) return error;
  if (error instanceof HTTPException) {
    const code = CODE_BY_STATUS.get(error.status);
    const message = error.message
      ? error.message.charAt(0).toLowerCase() + error.message.slice(1)
      : "bad request";
    return new HopGateError(code ?? "internal", message, { cause: error });
  }
  return new HopGateError("internal", "unexpected error", { cause: error });
}
