import type { Logger } from "./logger.js";

/** One proxied request as the proxy saw it; the source of its single access-log line. */
export interface AccessLogEntry {
  readonly requestId: string;
  /** Normalized host the request was routed by (a registered domain or the unknown host). */
  readonly domain: string;
  readonly method: string;
  /** Path without the query string. */
  readonly path: string;
  /** Query string without `?`; logged only when query logging is on (it may carry tokens). */
  readonly query?: string;
  readonly status: number;
  readonly durationMs: number;
  /** Request body bytes received from the visitor, and response body bytes sent to them. */
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly remoteAddr: string;
  /** Tunnel session that carried the request; absent when none did (404, 502 no tunnel). */
  readonly sessionId?: string;
  /** Why the exchange failed (`client_abort`: the visitor left or stopped reading); absent when it did not. */
  readonly error?: string;
  /** Which rule of the domain's access policy refused the request; absent when none did. */
  readonly accessDenied?: string | undefined;
  /** Set on the tunnel holder's line of a relayed request: the registry id of the server the visitor reached. */
  readonly relayedBy?: string | undefined;
}

/** The access-log line's fields, named as issue 5 and the Grafana/Loki queries expect. */
export interface AccessLogFields {
  readonly request_id: string;
  readonly domain: string;
  readonly method: string;
  readonly path: string;
  readonly status: number;
  readonly duration_ms: number;
  readonly bytes_in: number;
  readonly bytes_out: number;
  readonly remote_addr: string;
  readonly session_id: string | null;
  /** Present only on failed exchanges. */
  readonly error?: string;
  /** Present only when the domain's access policy refused the request. */
  readonly access_denied?: string;
  /** Present only on the tunnel holder's line of a request another server relayed: that server's id. */
  readonly relayed_by?: string;
}

export interface AccessLogOptions {
  /** `HOP_LOG_QUERY`: append `?query` to `path`. Off by default. */
  readonly includeQuery: boolean;
}

/** Longest logged path: one visitor cannot make a multi-megabyte log line. */
export const MAX_LOGGED_PATH_CHARS = 2048;

export function accessLogFields(
  entry: AccessLogEntry,
  options: AccessLogOptions = { includeQuery: false },
): AccessLogFields {
  const path = options.includeQuery && entry.query ? `${entry.path}?${entry.query}` : entry.path;
  // One object, its optional fields set last (no object spread per line): the same keys in the same order.
  const fields: { -readonly [K in keyof AccessLogFields]: AccessLogFields[K] } = {
    request_id: entry.requestId,
    domain: entry.domain,
    method: entry.method,
    path: path.length > MAX_LOGGED_PATH_CHARS ? `${path.slice(0, MAX_LOGGED_PATH_CHARS)}…` : path,
    status: entry.status,
    duration_ms: Math.round(entry.durationMs * 1000) / 1000,
    bytes_in: entry.bytesIn,
    bytes_out: entry.bytesOut,
    remote_addr: entry.remoteAddr,
    session_id: entry.sessionId ?? null,
  };
  if (entry.error !== undefined) fields.error = entry.error;
  if (entry.accessDenied !== undefined) fields.access_denied = entry.accessDenied;
  if (entry.relayedBy !== undefined) fields.relayed_by = entry.relayedBy;
  return fields;
}

export interface AccessLog {
  /** Writes the one `info` line of a finished request (`msg: "request"`). */
  write(entry: AccessLogEntry): void;
}

/** The proxy's access log: a child logger with `component: "access"`. */
export function createAccessLog(options: AccessLogOptions & { readonly logger: Logger }): AccessLog {
  const logger = options.logger.child({ component: "access" });
  return {
    // The fields are built only when the line is written (the demo, for one, logs at warn).
    write: (entry) => {
      if (logger.isLevelEnabled("info")) logger.info(accessLogFields(entry, options), "request");
    },
  };
}
