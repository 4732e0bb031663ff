import { createHistogram, type RecordableHistogram } from "node:perf_hooks";
import type { TrafficKind } from "./soak-traffic.js";

const MiB = 1024 * 1024;

/** One reporting interval of a soak: counts, latency percentiles per kind, RSS at its end. */
export interface SoakInterval {
  readonly endSeconds: number;
  readonly requests: number;
  readonly errors: number;
  /** Per kind: exchanges and p50/p95/p99 latency in ms (null when none finished). */
  readonly latencyMs: Record<
    string,
    { count: number; p50: number | null; p95: number | null; p99: number | null }
  >;
  readonly serverRssMiB: number;
  readonly clientsRssMiB: number[];
}

/** Latencies of the current interval, swapped out at each interval's end. */
export class IntervalStats {
  #histograms = new Map<TrafficKind, RecordableHistogram>();
  #requests = 0;
  #errors = 0;

  /** Exchanges recorded since the last `take`. */
  get pending(): number {
    return this.#requests;
  }

  record(kind: TrafficKind, durationMs: number, ok: boolean): void {
    this.#requests++;
    if (!ok) return void this.#errors++;
    let histogram = this.#histograms.get(kind);
    if (!histogram) this.#histograms.set(kind, (histogram = createHistogram()));
    histogram.record(Math.max(1, Math.round(durationMs * 1000))); // in µs
  }

  /** Closes the interval: its figures, and a fresh start for the next. */
  take(endSeconds: number, serverRssBytes: number, clientsRssBytes: number[]): SoakInterval {
    const at = (h: RecordableHistogram, p: number) => (h.count ? h.percentile(p) / 1000 : null);
    const latencyMs = Object.fromEntries(
      [...this.#histograms].map(([kind, h]) => [
        kind,
        { count: h.count, p50: at(h, 50), p95: at(h, 95), p99: at(h, 99) },
      ]),
    );
    const interval: SoakInterval = {
      endSeconds,
      requests: this.#requests,
      errors: this.#errors,
      latencyMs,
      serverRssMiB: serverRssBytes / MiB,
      clientsRssMiB: clientsRssBytes.map((bytes) => bytes / MiB),
    };
    this.#histograms = new Map();
    this.#requests = 0;
    this.#errors = 0;
    return interval;
  }
}

/** An RSS sample: seconds since the soak began and resident set size in bytes. */
export interface RssSample {
  readonly seconds: number;
  readonly bytes: number;
}

/**
 * Memory trend in MiB per hour: the slope of a least-squares line through the samples of the
 * second half (the first half holds warm-up: JIT, pools, buffers growing to their working size).
 * Null with fewer than 3 samples.
 */
export function rssTrendMiBPerHour(samples: readonly RssSample[]): number | null {
  const half = samples.slice(Math.floor(samples.length / 2));
  if (half.length < 3) return null;
  const meanX = half.reduce((sum, s) => sum + s.seconds, 0) / half.length;
  const meanY = half.reduce((sum, s) => sum + s.bytes, 0) / half.length;
  let covariance = 0;
  let variance = 0;
  for (const s of half) {
    covariance += (s.seconds - meanX) * (s.bytes - meanY);
    variance += (s.seconds - meanX) ** 2;
  }
  return variance === 0 ? 0 : ((covariance / variance) * 3600) / MiB;
}

/**
 * Growth after warm-up in MiB: the highest sample from `warmupSeconds` on, less the first sample
 * taken at or after `warmupSeconds` (the working size once pools and buffers have grown). Null
 * when no sample follows the warm-up.
 */
export function rssGrowthAfterWarmupMiB(samples: readonly RssSample[], warmupSeconds: number): number | null {
  const after = samples.filter((s) => s.seconds >= warmupSeconds);
  const [baseline] = after;
  if (!baseline || after.length < 2) return null;
  return (Math.max(...after.map((s) => s.bytes)) - baseline.bytes) / MiB;
}
