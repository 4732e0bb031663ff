import type { Socket } from "node:net";
import type { VisitorRequest } from "../proxy/visitor.js";
import { addressKey } from "./address-key.js";
import { ConnectionCounter } from "./connection-counter.js";
import { RequestRateLimiter } from "./request-rate-limiter.js";

/** Why a visitor was turned away: the `reason` label of `hopgate_visitor_limited_total`. */
export const VISITOR_LIMIT_REASONS = ["connections", "rate", "body"] as const;
export type VisitorLimitReason = (typeof VISITOR_LIMIT_REASONS)[number];

export type Admission =
  | { readonly ok: true }
  | {
      readonly ok: false;
      readonly reason: Exclude<VisitorLimitReason, "body">;
      readonly retryAfterSeconds: number;
      /** The request came over a connection past its address's limit: close it after the 429. */
      readonly closeConnection: boolean;
    };

/** What the proxy asks before it opens a tunnel stream for a visitor's request. */
export interface VisitorGate {
  /**
   * `visitorAddress` is who sent the request (visitor-address.ts; behind a trusted front proxy
   * not the TCP peer): the request rate counts it, connections count TCP peers.
   */
  admit(req: VisitorRequest, visitorAddress: string | undefined): Admission;
}

export interface VisitorLimitsOptions {
  /** 0 = no limit. */
  readonly maxConnectionsPerIp: number;
  /** 0 = no limit. */
  readonly maxRequestsPerIpPerSecond: number;
  /** Token bucket size; 0 = one second's worth of the rate. */
  readonly requestBurstPerIp: number;
  readonly sweepIntervalMs?: number;
}

export interface VisitorLimits extends VisitorGate {
  /** Counts a TCP connection of the TLS listener for as long as it is open. */
  trackConnection(socket: Socket): void;
  stop(): void;
}

const SWEEP_INTERVAL_MS = 60_000;
/** Connections past their address's limit are told to come back after this. */
const CONNECTION_RETRY_AFTER_SECONDS = 1;

/**
 * Per-address limits of the public listener (docs/operations.md, Visitor limits). Every open
 * TLS connection counts, but only requests to proxied domains are refused: the tunnel endpoint
 * and the admin API share the port and must keep working for an address at its limit. A
 * connection past the limit still completes its TLS handshake, so that the visitor reads a 429
 * rather than a reset; floods of bare TCP connections are a firewall's job.
 */
export function createVisitorLimits(options: VisitorLimitsOptions): VisitorLimits {
  const connections =
    options.maxConnectionsPerIp > 0 ? new ConnectionCounter(options.maxConnectionsPerIp) : undefined;
  /** Connections (address|port) opened while their address was at its limit. */
  const overLimit = new Set<string>();
  const rate =
    options.maxRequestsPerIpPerSecond > 0
      ? new RequestRateLimiter({
          ratePerSecond: options.maxRequestsPerIpPerSecond,
          burst: options.requestBurstPerIp || options.maxRequestsPerIpPerSecond,
        })
      : undefined;
  const sweeper = rate
    ? setInterval(() => rate.sweep(), options.sweepIntervalMs ?? SWEEP_INTERVAL_MS)
    : undefined;
  sweeper?.unref();

  return {
    trackConnection(socket) {
      if (!connections) return;
      const key = addressKey(socket.remoteAddress);
      const id = connectionId(socket.remoteAddress, socket.remotePort);
      if (!connections.opened(key)) overLimit.add(id);
      socket.once("close", () => {
        connections.closed(key);
        overLimit.delete(id);
      });
    },
    admit(req, visitorAddress) {
      // `req.socket` only when needed: node's HTTP/2 compatibility API builds it anew per stream.
      if (
        overLimit.size > 0 &&
        overLimit.has(connectionId(req.socket.remoteAddress, req.socket.remotePort))
      ) {
        return {
          ok: false,
          reason: "connections",
          retryAfterSeconds: CONNECTION_RETRY_AFTER_SECONDS,
          closeConnection: true,
        };
      }
      if (!rate) return { ok: true };
      const decision = rate.take(addressKey(visitorAddress));
      if (decision.ok) return decision;
      return {
        ok: false,
        reason: "rate",
        retryAfterSeconds: decision.retryAfterSeconds,
        closeConnection: false,
      };
    },
    stop() {
      if (sweeper) clearInterval(sweeper);
    },
  };
}

function connectionId(address: string | undefined, port: number | undefined): string {
  return `${address ?? "?"}|${port ?? "?"}`;
}
