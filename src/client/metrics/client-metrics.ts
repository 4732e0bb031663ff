import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import { registerProcessMetrics } from "../../lib/process-metrics.js";
import { OTHER_LABEL, REQUEST_DURATION_BUCKETS_SECONDS, statusLabel } from "../../lib/metric-labels.js";

/** Why the client is about to reconnect: how the previous attempt or tunnel ended. */
export const RECONNECT_REASONS = [
  "connect_failed",
  "rejected",
  "stream_error",
  "server_closed",
  "ping_timeout",
  "other",
] as const;
export type ReconnectReason = (typeof RECONNECT_REASONS)[number];

/** `from_server`: request bodies received through the tunnel; `to_server`: response bodies sent. */
export const CLIENT_DIRECTIONS = ["from_server", "to_server"] as const;
export type ClientDirection = (typeof CLIENT_DIRECTIONS)[number];

export interface ClientMetricsOptions {
  readonly registry: Registry;
  /** The configured service names; any other name the server sends is counted as `_other`. */
  readonly serviceNames: readonly string[];
}

export interface ClientRequestFinished {
  readonly service: string;
  /** Status sent back through the tunnel (the client's own 502 when the local call failed). */
  readonly status: number;
  readonly durationMs: number;
}

/** What the client reports; every method is hot-path cheap and never throws on odd input. */
export interface ClientMetrics {
  requestFinished(request: ClientRequestFinished): void;
  tunnelConnected(): void;
  tunnelDisconnected(): void;
  reconnectScheduled(reason: ReconnectReason): void;
  /** Body bytes as they pass; call per chunk. */
  tunnelBytes(direction: ClientDirection, bytes: number): void;
}

/** Registers the client's series (and Node's process metrics) on `registry`; once per registry. */
export function createClientMetrics(options: ClientMetricsOptions): ClientMetrics {
  const registers = [options.registry];
  registerProcessMetrics(options.registry);
  const services = new Set(options.serviceNames);

  const requests = new Counter({
    name: "hopgate_client_requests_total",
    help: "Requests forwarded to local services, by configured service and status code",
    labelNames: ["service", "status"] as const,
    registers,
  });
  const duration = new Histogram({
    name: "hopgate_client_request_duration_seconds",
    help: "Time from request received through the tunnel to response finished, by service",
    labelNames: ["service"] as const,
    buckets: [...REQUEST_DURATION_BUCKETS_SECONDS],
    registers,
  });
  const connected = new Gauge({
    name: "hopgate_client_tunnel_connected",
    help: "1 while the tunnel to the server is up, else 0",
    registers,
  });
  connected.set(0);
  const reconnects = new Counter({
    name: "hopgate_client_reconnects_total",
    help: "Reconnect attempts, by how the previous attempt or tunnel ended",
    labelNames: ["reason"] as const,
    registers,
  });
  for (const reason of RECONNECT_REASONS) reconnects.inc({ reason }, 0);

  const pendingBytes: Record<ClientDirection, number> = { from_server: 0, to_server: 0 };
  new Counter({
    name: "hopgate_client_bytes_total",
    help: "Body bytes through the tunnel: from_server = requests received, to_server = responses sent",
    labelNames: ["direction"] as const,
    registers,
    collect() {
      for (const direction of CLIENT_DIRECTIONS) {
        this.inc({ direction }, pendingBytes[direction]);
        pendingBytes[direction] = 0;
      }
    },
  });

  return {
    requestFinished(request) {
      const service = services.has(request.service) ? request.service : OTHER_LABEL;
      requests.inc({ service, status: statusLabel(request.status) });
      if (Number.isFinite(request.durationMs)) {
        duration.observe({ service }, Math.max(0, request.durationMs) / 1000);
      }
    },
    tunnelConnected: () => connected.set(1),
    tunnelDisconnected: () => connected.set(0),
    reconnectScheduled: (reason) => reconnects.inc({ reason }),
    tunnelBytes(direction, bytes) {
      if (bytes > 0) pendingBytes[direction] += bytes;
    },
  };
}
