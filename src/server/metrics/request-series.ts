import { wildcardOf } from "../../lib/wildcard-domain.js";
import { Counter, Histogram, type Registry } from "prom-client";
import { OTHER_LABEL, methodLabel, statusLabel } from "../../lib/metric-labels.js";
import type { FinishedRequest } from "./server-events.js";

export interface RequestSeriesOptions {
  readonly registers: Registry[];
  readonly isRegisteredDomain: (domain: string) => boolean;
  readonly total: { readonly name: string; readonly help: string };
  readonly duration: { readonly name: string; readonly help: string; readonly buckets: readonly number[] };
}

export interface RequestSeries {
  readonly record: (request: FinishedRequest) => void;
  readonly forget: (domain: string) => void;
}

interface MethodSeries {
  readonly observe: (seconds: number) => void;
  readonly byStatus: Map<number, { inc(): void }>;
}

/**
 * `requests_total{method,status,domain}` and `request_duration_seconds{method,domain}`, with the
 * label children cached per domain, method and status: recording a request in a known series
 * costs three map lookups and no label object. The domain label is the domain when it is
 * registered at the time of the request, the wildcard (`*.tunnel.example.com`) for a name one
 * label under a registered wildcard (self-service labels: one series per wildcard, however many
 * labels come and go), else `_other`; method and status use the shared sets.
 */
export function createRequestSeries(options: RequestSeriesOptions): RequestSeries {
  const total = new Counter({
    name: options.total.name,
    help: options.total.help,
    labelNames: ["method", "status", "domain"] as const,
    registers: options.registers,
  });
  const duration = new Histogram({
    name: options.duration.name,
    help: options.duration.help,
    labelNames: ["method", "domain"] as const,
    buckets: [...options.duration.buckets],
    registers: options.registers,
  });
  const byDomain = new Map<string, Map<string, MethodSeries>>();

  /** `method` is already a label value (`methodLabel`). */
  function methodSeries(domain: string, method: string): MethodSeries {
    let methods = byDomain.get(domain);
    if (!methods) byDomain.set(domain, (methods = new Map<string, MethodSeries>()));
    let series = methods.get(method);
    if (!series) {
      const child = duration.labels(method, domain);
      series = { observe: (seconds) => child.observe(seconds), byStatus: new Map() };
      methods.set(method, series);
    }
    return series;
  }

  const domainLabel = (host: string): string => {
    if (options.isRegisteredDomain(host)) return host;
    const wildcard = wildcardOf(host)?.pattern;
    return wildcard !== undefined && options.isRegisteredDomain(wildcard) ? wildcard : OTHER_LABEL;
  };

  return {
    record(request) {
      const domain = domainLabel(request.domain);
      const method = methodLabel(request.method);
      const series = methodSeries(domain, method);
      // Statuses outside 100-599 share one key, so a client sending odd codes adds no entries.
      const status = statusLabel(request.status) === OTHER_LABEL ? 0 : request.status;
      let counter = series.byStatus.get(status);
      if (!counter) {
        counter = total.labels(method, statusLabel(status), domain);
        series.byStatus.set(status, counter);
      }
      counter.inc();
      if (Number.isFinite(request.durationMs)) series.observe(Math.max(0, request.durationMs) / 1000);
    },
    forget(domain) {
      const methods = byDomain.get(domain);
      if (!methods || domain === OTHER_LABEL) return;
      for (const [method, series] of methods) {
        duration.remove(method, domain);
        for (const status of series.byStatus.keys()) total.remove(method, statusLabel(status), domain);
      }
      byDomain.delete(domain);
    },
  };
}
