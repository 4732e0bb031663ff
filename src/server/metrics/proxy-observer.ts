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
 * any) and the body bytes of every finished request.
 */
export function createProxyObserver(options: ProxyObserverOptions): AccessSink {
  const { metrics, accessLog } = options;
  return (record: AccessRecord) => {
    metrics.requestFinished(record);
    if (record.error) {
      const type = proxyErrorTypeOf(record.error);
      if (type) metrics.proxyError(type);
    }
    metrics.proxyBytes("to_client", record.bytesIn);
    metrics.proxyBytes("from_client", record.bytesOut);
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
    });
  };
}
