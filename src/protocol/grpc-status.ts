import type { IncomingHttpHeaders, IncomingHttpStatusHeader } from "node:http2";

/** gRPC status codes (grpc doc/statuscodes.md) that the tunnel uses. */
export const GrpcCode = {
  ok: 0,
  canceled: 1,
  unknown: 2,
  invalidArgument: 3,
  deadlineExceeded: 4,
  alreadyExists: 6,
  permissionDenied: 7,
  resourceExhausted: 8,
  unimplemented: 12,
  internal: 13,
  unavailable: 14,
  unauthenticated: 16,
} as const;

export type GrpcCode = (typeof GrpcCode)[keyof typeof GrpcCode];

/** How a gRPC call ended: its status, message and the custom metadata of its trailers. */
export interface GrpcStatus {
  readonly code: number;
  readonly message: string;
  /** Lowercase custom metadata keys (e.g. `hopgate-reject-reason`) and their first value. */
  readonly metadata: ReadonlyMap<string, string>;
}

/**
 * Server pushback (gRFC A6, "Retry Throttling / Pushback"): a trailer with the milliseconds the
 * client should wait before trying again. The one `grpc-` key kept in `GrpcStatus.metadata`.
 */
export const RETRY_PUSHBACK_MS = "grpc-retry-pushback-ms";

/** Reject reasons a v2 client reads from this trailer to decide on retrying (set by the server). */
export const REJECT_REASON = "hopgate-reject-reason";

/** A status with the given custom metadata (none by default). */
export function grpcStatus(code: number, message: string, metadata: Record<string, string> = {}): GrpcStatus {
  return { code, message, metadata: new Map(Object.entries(metadata)) };
}

/** Name of a status code for logs (`PERMISSION_DENIED`), or the number. */
export function grpcCodeName(code: number): string {
  for (const [name, value] of Object.entries(GrpcCode)) {
    if (value === code) return name.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase();
  }
  return String(code);
}

/**
 * The status in a trailers block, or in a Trailers-Only response's headers (grpc
 * PROTOCOL-HTTP2.md); undefined when there is no `grpc-status`. `grpc-message` is
 * percent-encoded on the wire.
 */
export function statusFromHeaders(
  headers: IncomingHttpHeaders & IncomingHttpStatusHeader,
): GrpcStatus | undefined {
  const raw = headers["grpc-status"];
  if (raw === undefined) return undefined;
  const code = Number(Array.isArray(raw) ? raw[0] : raw);
  const metadata = new Map<string, string>();
  for (const [key, value] of Object.entries(headers)) {
    if (key.startsWith(":") || value === undefined) continue;
    if (key.startsWith("grpc-") && key !== RETRY_PUSHBACK_MS) continue;
    metadata.set(key, Array.isArray(value) ? (value[0] ?? "") : String(value));
  }
  return {
    code: Number.isInteger(code) && code >= 0 ? code : GrpcCode.unknown,
    message: decodeGrpcMessage(headers["grpc-message"]),
    metadata,
  };
}

/** Trailers (or Trailers-Only headers) that end a call with `status`. */
export function statusTrailers(status: GrpcStatus): Record<string, string> {
  const trailers: Record<string, string> = {
    "grpc-status": String(status.code),
    "grpc-message": encodeURIComponent(status.message),
  };
  for (const [key, value] of status.metadata) trailers[key] = value;
  return trailers;
}

function decodeGrpcMessage(raw: string | string[] | undefined): string {
  const text = Array.isArray(raw) ? (raw[0] ?? "") : (raw ?? "");
  try {
    return decodeURIComponent(text);
  } catch {
    return text; // not percent-encoded as it should be: show it as it came
  }
}
