import http2 from "node:http2";
import type { SecureContextOptions } from "node:tls";

/** Requests flow server → client over the tunnel: large receive windows, as on the server side. */
const STREAM_WINDOW_BYTES = 16 * 1024 * 1024;
const CONNECTION_WINDOW_BYTES = 64 * 1024 * 1024;

export interface TunnelHttp2Options {
  readonly serverUrl: string;
  readonly tls: Pick<SecureContextOptions, "ca"> & { readonly rejectUnauthorized: boolean };
  readonly connectTimeoutMs: number;
}

/**
 * One HTTP/2 connection to the server, owned by HopGate: its windows, its PINGs (v1 keepalive)
 * and its teardown. The tunnels of a client's domains share it (TunnelSessionPool).
 */
export class TunnelHttp2Session {
  readonly authority: string;
  readonly #session: http2.ClientHttp2Session;
  readonly #ready: Promise<void>;

  constructor(options: TunnelHttp2Options) {
    this.authority = new URL(options.serverUrl).origin;
    this.#session = http2.connect(this.authority, {
      ca: options.tls.ca,
      rejectUnauthorized: options.tls.rejectUnauthorized,
      settings: { initialWindowSize: STREAM_WINDOW_BYTES, enablePush: false },
      maxSessionMemory: 256,
    });
    this.#session.on("error", () => {
      // Reported through the pending request or the tunnel stream; the session just goes away.
    });
    this.#ready = new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`no connection to ${this.authority} within ${options.connectTimeoutMs} ms`));
        this.#session.destroy();
      }, options.connectTimeoutMs);
      this.#session.once("connect", (_session, socket) => {
        clearTimeout(timer);
        this.#session.setLocalWindowSize(CONNECTION_WINDOW_BYTES);
        // No Nagle: a small tunnel message must not wait for the ACK of the previous one.
        socket.setNoDelay(true);
        resolve();
      });
      this.#session.once("error", (error: Error) => {
        clearTimeout(timer);
        reject(error);
      });
      this.#session.once("close", () => {
        clearTimeout(timer);
        reject(new Error("connection closed"));
      });
    });
    this.#ready.catch(() => undefined);
  }

  /** Whether new streams may still be opened on this connection. */
  get usable(): boolean {
    return !this.#session.destroyed && !this.#session.closed;
  }

  /** Opens a request stream once the connection is up (rejects when it never comes up). */
  async openStream(headers: http2.OutgoingHttpHeaders): Promise<http2.ClientHttp2Stream> {
    await this.#ready;
    return this.#session.request(headers);
  }

  /** HTTP/2 PING; resolves false when unanswered (the caller applies the deadline) or impossible. */
  ping(): Promise<boolean> {
    return new Promise((resolve) => {
      if (this.#session.destroyed) return resolve(false);
      try {
        this.#session.ping((error) => resolve(!error));
      } catch {
        resolve(false);
      }
    });
  }

  destroy(): void {
    this.#session.destroy();
  }
}
