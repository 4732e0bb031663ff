import http2, { type ClientHttp2Session } from "node:http2";
import type { ServiceSpec } from "../config/service-spec.js";

/**
 * One HTTP/2 connection per HTTP/2 service origin (`h2c://`, `h2://`), shared by every request
 * to it, as gRPC clients keep one channel: replaced once it closes, errs or goes away, closed
 * after `idleTimeoutMs` without streams.
 */
export class Http2Origins {
  readonly #sessions = new Map<string, ClientHttp2Session>();
  readonly #idleTimeoutMs: number;

  constructor(idleTimeoutMs: number) {
    this.#idleTimeoutMs = idleTimeoutMs;
  }

  session(service: ServiceSpec): ClientHttp2Session {
    const tls = service.backendTls;
    const key = `${service.target.origin} ${tls?.rejectUnauthorized === true} ${tls?.ca ?? ""}`;
    const existing = this.#sessions.get(key);
    if (existing && !existing.closed && !existing.destroyed) return existing;
    const session = http2.connect(service.target.origin, {
      // As for HTTP/1.1 services: unverified unless the service's config asks (backend-exchange.ts).
      rejectUnauthorized: tls?.rejectUnauthorized ?? false,
      ...(tls?.ca === undefined ? {} : { ca: tls.ca }),
    });
    this.#sessions.set(key, session);
    const forget = () => {
      if (this.#sessions.get(key) === session) this.#sessions.delete(key);
    };
    session.once("close", forget);
    session.once("goaway", forget);
    // A connection failure reaches each request's stream as its own error.
    session.on("error", forget);
    session.setTimeout(this.#idleTimeoutMs, () => session.close());
    session.unref();
    return session;
  }

  destroy(): void {
    for (const session of this.#sessions.values()) session.destroy();
    this.#sessions.clear();
  }
}
