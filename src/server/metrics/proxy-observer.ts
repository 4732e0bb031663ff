import type { AccessLog } from "../../lib/access-log.js";
import type { AccessRecord, AccessSink } from "../proxy/access-record.js";
import { proxyErrorTypeOf } from "./proxy-error-type.js";
import type { ServerMetrics } from "./server-metrics.js";

export interface ProxyObserverOptions {
  readonly metrics: ServerMetrics;
  readonly accessLog: AccessLog;
}

/**
 * The proxy's `onFinished` sink: one access-log line, the request series, the proxy error (if
 * any) and the body bytes of every finished request. A request relayed between two servers of
 * the gateway is counted once (docs/scale-out.md): the server the visitor reached counts it in
 * the request series and bytes like any other; the tunnel holder counts its part in the relayed
 * series only, and a failure only where it happened (its tunnel's; the visitor leaving is the
 * other server's). Both write an access-log line, the holder's with `relayed_by`.
 */
export function createProxyObserver(options: ProxyObserverOptions): AccessSink {
  const { metrics, accessLog } = options;
  return (record: AccessRecord) => {
    const relayed = record.relayedBy !== undefined;
    if (relayed) metrics.relayedRequestServed(record);
    else metrics.requestFinished(record);
    if (record.error && !(relayed && record.error === "client_abort")) {
      const type = proxyErrorTypeOf(record.error);
      if (type) metrics.proxyError(type);
    }
    if (!relayed) {
      metrics.proxyBytes("to_client", record.bytesIn);
      metrics.proxyBytes("from_client", record.bytesOut);
    }
    const queryAt = record.url.indexOf("?");
    accessLog.write({
      requestId: record.requestId,
      domain: record.domain,
      method: record.method,
      path: queryAt === -1 ? record.url : record.url.slice(0, queryAt),
      query: queryAt === -1 ? undefined : record.url.slice(queryAt + 1),
      status: record.status,
      durationMs: record.durationMs,
      bytesIn: record.bytesIn,
      bytesOut: record.bytesOut,
      remoteAddr: record.remoteAddress,
      sessionId: record.sessionId,
      error: record.error,
      accessDenied: record.accessDenied,
      relayedBy: record.relayedBy,
    });
  };
}
