import type { HopGateErrorCode } from "../../lib/hopgate-error.js";

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
}

export type AccessSink = (record: AccessRecord) => void;
