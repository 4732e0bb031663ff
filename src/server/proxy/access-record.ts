import type { HopGateErrorCode } from "../../lib/hopgate-error.js";
import type { AccessDenialReason } from "../access/decide.js";
import type { VisitorRequest } from "./visitor.js";

/** What one proxied request did; becomes one access-log line and the request metrics. */
export interface AccessRecord {
  readonly requestId: string;
  readonly domain: string;
  readonly method: string;
  readonly url: string;
  /** Status sent to the visitor; 0 when the visitor left before any. */
  readonly status: number;
  readonly durationMs: number;
  /** Request body bytes carried into the tunnel and response body bytes carried out. */
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly remoteAddress: string;
  readonly sessionId: string | undefined;
  /** Set when the exchange failed; the code decides the error metric's type. */
  readonly error: HopGateErrorCode | "client_abort" | undefined;
  /** Set when the domain's access policy refused the request (docs/access.md). */
  readonly accessDenied?: AccessDenialReason;
  /**
   * Set on the tunnel holder's side of a peer relay: the registry id of the server the visitor
   * reached. That server counts the request; this record is the holder's part of it.
   */
  readonly relayedBy?: string | undefined;
}

export type AccessSink = (record: AccessRecord) => void;

/**
 * The request's own fields of an access record; the duration runs from `startedAtMs` to now.
 * `remoteAddress` is the one read when the request arrived: once an HTTP/2 visitor's
 * connection is gone, its socket no longer knows it.
 */
export function accessRecordOf(
  req: VisitorRequest,
  context: {
    readonly requestId: string;
    readonly domain: string;
    readonly startedAtMs: number;
    readonly remoteAddress: string;
    readonly relayedBy: string | undefined;
  },
  outcome: Pick<AccessRecord, "status" | "bytesIn" | "bytesOut" | "sessionId" | "error">,
): AccessRecord {
  return {
    requestId: context.requestId,
    domain: context.domain,
    method: req.method ?? "GET",
    url: req.url ?? "/",
    durationMs: Date.now() - context.startedAtMs,
    remoteAddress: context.remoteAddress,
    relayedBy: context.relayedBy,
    ...outcome,
  };
}
