import { STATUS_CODES, type ServerResponse } from "node:http";
import type { Duplex } from "node:stream";

/**
 * Why a listener refused a request before it reached a handler: the `reason` label of
 * `hopgate_visitor_rejected_total`. `malformed`: a request line or header HTTP/1.1 cannot read,
 * or a request target that is not a valid path (400); `framing`: an ambiguous or broken body
 * framing, such as Content-Length with Transfer-Encoding or a bad chunk (400, 413 for oversized
 * chunk extensions);
 * `header_too_large` (431); `timeout`: a head or request not complete in time (408, or an
 * HTTP/2 connection without a first request).
 */
export const VISITOR_REJECTION_REASONS = ["malformed", "framing", "header_too_large", "timeout"] as const;
export type VisitorRejectionReason = (typeof VISITOR_REJECTION_REASONS)[number];

/** llhttp's codes for body framing it refuses (request smuggling attempts among them). */
const FRAMING_CODES = new Set([
  "HPE_INVALID_TRANSFER_ENCODING",
  "HPE_UNEXPECTED_CONTENT_LENGTH",
  "HPE_INVALID_CONTENT_LENGTH",
  "HPE_INVALID_CHUNK_SIZE",
  "HPE_CHUNK_EXTENSIONS_OVERFLOW",
  "HPE_STRICT", // chunk data not followed by CRLF
]);

/**
 * The refusal an HTTP/1.1 `clientError` stands for; undefined for a visitor that went away (a
 * reset socket, a connection closed in the middle of a request), which is no refusal.
 */
export function rejectionReason(code: string | undefined): VisitorRejectionReason | undefined {
  if (code === "ERR_HTTP_REQUEST_TIMEOUT") return "timeout";
  if (code === "HPE_HEADER_OVERFLOW") return "header_too_large";
  if (code === undefined || !code.startsWith("HPE_") || code === "HPE_INVALID_EOF_STATE") return undefined;
  return FRAMING_CODES.has(code) ? "framing" : "malformed";
}

/** The status node's own handler answers each error with. */
function statusOf(code: string | undefined): number {
  switch (code) {
    case "HPE_HEADER_OVERFLOW":
      return 431;
    case "HPE_CHUNK_EXTENSIONS_OVERFLOW":
      return 413;
    case "ERR_HTTP_REQUEST_TIMEOUT":
      return 408;
    default:
      return 400;
  }
}

export interface ClientErrors {
  /**
   * Tells of each HTTP/1.1 response on `socket` (the request's: a pipelined request's response
   * has no socket until the ones before it are sent), so that an error during one writes no
   * second status line.
   */
  responding(socket: Duplex, res: ServerResponse): void;
  /** The `clientError` listener of an HTTP/1.1 server (or of an HTTP/2 server's HTTP/1.1 fallback). */
  readonly listener: (error: Error & { code?: string }, socket: Duplex) => void;
}

/**
 * Answers HTTP/1.1 parser errors and timeouts exactly as node does without a listener (a bare
 * status line with `Connection: close`, unless a response to the connection has begun; then the
 * connection is closed) and reports each refusal, which node's own handler cannot.
 */
export function createClientErrors(onRejected?: (reason: VisitorRejectionReason) => void): ClientErrors {
  const responses = new WeakMap<Duplex, ServerResponse>();
  return {
    responding: (socket, res) => {
      responses.set(socket, res);
      // A finished response no longer counts as begun: forgetting it then frees the exchange
      // behind it, which an idle keep-alive connection would otherwise hold until its next
      // request, long enough to be promoted to V8's old generation (docs/performance.md, change 11).
      res.once("finish", () => {
        if (responses.get(socket) === res) responses.delete(socket);
      });
    },
    listener: (error, socket) => {
      const reason = rejectionReason(error.code);
      if (reason) onRejected?.(reason);
      // The latest response has begun, or waits behind earlier ones that may have (pipelining).
      const res = responses.get(socket);
      const responseBegun = res !== undefined && !res.writableFinished && (res.headersSent || !res.socket);
      if (socket.writable && !responseBegun) {
        const status = statusOf(error.code);
        socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\n\r\n`);
      }
      socket.destroy();
    },
  };
}
