import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { AUTO_DOMAIN } from "../lib/wildcard-domain.js";
import { Backoff, DEFAULT_BACKOFF, type BackoffOptions } from "./backoff.js";
import { CERTIFICATE_FAILURE_MESSAGE, isCertificateFailure } from "./certificate-failure.js";
import {
  TunnelConnection,
  type ConnectionOutcome,
  type TunnelConnectionOptions,
} from "./tunnel-connection.js";

export interface TunnelClientOptions extends Omit<
  TunnelConnectionOptions,
  "onDrainRequested" | "onEstablished"
> {
  readonly backoff?: BackoffOptions;
  /** Wait after the server rejected the key or domain: reported clearly, never hammered. */
  readonly rejectedRetryMs?: number;
  readonly onStatus?: (status: TunnelClientStatus) => void;
  /** Whether to log the public URL once the server names it (false for the extra servers' tunnels). */
  readonly announcePublicUrl?: boolean;
}

export type TunnelClientStatus =
  | { readonly t: "connecting" }
  | {
      readonly t: "connected";
      readonly version: 1 | 2;
      /** What the tunnel serves, when the server said: the assigned label for `auto`. */
      readonly hostname?: string;
    }
  | {
      readonly t: "waiting";
      readonly delayMs: number;
      readonly reason: string;
      /** Bounded cause of the reconnect (for metrics): the outcome's cause, or "rejected". */
      readonly cause: "rejected" | Extract<ConnectionOutcome, { t: "ended" }>["cause"];
    }
  | { readonly t: "stopped" };

const DEFAULT_REJECTED_RETRY_MS = 5 * 60_000;
/** Longest server pushback honoured, so that a wrong value cannot park the client for days. */
const MAX_PUSHBACK_MS = 60 * 60_000;

/**
 * Keeps one tunnel up for as long as the client runs: reconnects forever with jittered
 * exponential backoff (starting over once a tunnel is accepted), opens a replacement at once when the server asks a tunnel to drain, and
 * on stop drains what is in flight.
 */
export class TunnelClient {
  readonly #options: TunnelClientOptions;
  readonly #backoff: Backoff;
  readonly #connections = new Set<TunnelConnection>();
  readonly #stop = new AbortController();
  #loop: Promise<void> | undefined;
  /** Same on every tunnel of this client: the server gives a held label back to it. */
  readonly #instanceId: string;
  /** What the next tunnel asks for: `auto` until the server assigned a label, then that label. */
  #domain: string;
  #publicUrl: string | undefined;

  constructor(options: TunnelClientOptions) {
    this.#options = options;
    this.#backoff = new Backoff(options.backoff ?? DEFAULT_BACKOFF);
    this.#instanceId = options.instanceId ?? randomUUID();
    this.#domain = options.domain;
  }

  /** The public https URL of this tunnel once a server named what it serves. */
  get publicUrl(): string | undefined {
    return this.#publicUrl;
  }

  /** The newest tunnel, if any (the one new requests arrive on). */
  get current(): TunnelConnection | undefined {
    return [...this.#connections].at(-1);
  }

  start(): void {
    this.#loop ??= this.#run();
  }

  /** Drains in-flight requests for at most `timeoutMs`, then closes every tunnel. */
  async stop(timeoutMs: number): Promise<void> {
    this.#stop.abort();
    await Promise.all([...this.#connections].map((connection) => connection.drain(timeoutMs)));
    await this.#loop;
    this.#options.onStatus?.({ t: "stopped" });
  }

  async #run(): Promise<void> {
    const logger = this.#options.logger;
    while (!this.#stop.signal.aborted) {
      this.#options.onStatus?.({ t: "connecting" });
      let drainRequested!: () => void;
      const drained = new Promise<"drain">((resolve) => (drainRequested = () => resolve("drain")));
      const connection = new TunnelConnection({
        ...this.#options,
        domain: this.#domain,
        instanceId: this.#instanceId,
        onDrainRequested: () => drainRequested(),
        onEstablished: (version, hostname) => {
          // A tunnel the server accepted ends the outage: the next one starts from the initial
          // delay, as gRPC resets its connection backoff once a connection is READY
          // (grpc/doc/connection-backoff.md). Otherwise a second restart within a minute of the
          // first would find clients in multi-second waits.
          this.#backoff.reset();
          if (hostname) this.#served(hostname);
          this.#options.onStatus?.({ t: "connected", version, ...(hostname && { hostname }) });
        },
      });
      this.#connections.add(connection);
      void connection.done.then(() => this.#connections.delete(connection));
      const result = await Promise.race([connection.done, drained]);
      if (result === "drain") {
        this.#backoff.reset();
        continue; // the old tunnel finishes its streams on its own
      }
      if (this.#stop.signal.aborted) return;
      const delayMs = this.#delayAfter(result);
      const reason =
        result.t === "ended" ? result.reason : `${result.message} (${result.reason ?? "rejected"})`;
      if (result.t === "rejected" && (result.reason === "label_taken" || result.reason === "label_limit")) {
        logger.error(
          { reason, retry_in_ms: delayMs },
          result.reason === "label_taken"
            ? "server refused the label: another client holds it; choose another --domain (or auto), or wait until it is free"
            : "server refused the label: its wildcard domain holds all the labels it may; retrying",
        );
      } else if (result.t === "rejected" && result.reason === "rate_limited") {
        logger.warn(
          { reason, retry_in_ms: delayMs },
          "server refuses this address for now after too many failed authentications from it; waiting",
        );
      } else if (
        result.t === "rejected" &&
        delayMs >= (this.#options.rejectedRetryMs ?? DEFAULT_REJECTED_RETRY_MS)
      ) {
        logger.error(
          { reason, retry_in_ms: delayMs },
          "server rejected this client: check HOP_CLIENT_DOMAIN and HOP_CLIENT_API_KEY",
        );
      } else if (result.t === "ended" && result.cause === "connect_failed" && isCertificateFailure(reason)) {
        logger.error({ reason, retry_in_ms: delayMs }, CERTIFICATE_FAILURE_MESSAGE);
      } else {
        logger.warn({ reason, retry_in_ms: delayMs }, "tunnel down; reconnecting");
      }
      this.#options.onStatus?.({
        t: "waiting",
        delayMs,
        reason,
        cause: result.t === "ended" ? result.cause : "rejected",
      });
      await sleep(delayMs, undefined, { signal: this.#stop.signal }).catch(() => undefined);
    }
  }

  /** Keeps an assigned label for the next tunnels and prints the public URL once per name. */
  #served(hostname: string): void {
    if (this.#domain === AUTO_DOMAIN) this.#domain = hostname;
    if (this.#options.announcePublicUrl === false) return;
    const url = new URL(this.#options.serverUrl);
    url.hostname = hostname;
    const publicUrl = url.origin;
    if (publicUrl === this.#publicUrl) return;
    this.#publicUrl = publicUrl;
    this.#options.logger.info({ url: publicUrl, domain: hostname }, `public URL: ${publicUrl}`);
  }

  #delayAfter(outcome: ConnectionOutcome): number {
    if (outcome.t === "ended") return this.#backoff.next(outcome.uptimeMs);
    if (outcome.reason === "rate_limited") {
      // A blocked address is refused until the block ends: earlier attempts are wasted.
      return Math.max(this.#backoff.next(0), Math.min(outcome.retryAfterMs ?? 0, MAX_PUSHBACK_MS));
    }
    // A held label may be freed (its client leaves), so it is asked for again with backoff.
    const retryable = ["unavailable", "timeout", "label_taken", "label_limit"].includes(outcome.reason ?? "");
    return retryable ? this.#backoff.next(0) : (this.#options.rejectedRetryMs ?? DEFAULT_REJECTED_RETRY_MS);
  }
}
