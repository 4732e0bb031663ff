import type { MiddlewareHandler } from "hono";
import { HopGateError } from "../../lib/hopgate-error.js";

export const MAX_ADMIN_BODY_BYTES = 64 * 1024;

/**
 * 413 past `maxBytes`: at once by Content-Length when given; otherwise (chunked HTTP/1.1, or
 * HTTP/2 without the header) by counting bytes as they arrive, reading at most `maxBytes + 1`.
 * A counted body is buffered and handed on as a fresh Request. (Hono's bodyLimit does the same
 * but re-wraps the incoming Request, which fails for @hono/node-server's lightweight Request when
 * the global Request is not replaced, as we do not replace it.)
 */
export function adminBodyLimit(maxBytes = MAX_ADMIN_BODY_BYTES): MiddlewareHandler {
  const tooLarge = () =>
    new HopGateError("payload_too_large", `request body is larger than ${maxBytes} bytes`);
  return async (c, next) => {
    const raw = c.req.raw;
    if (!raw.body) return next();
    const length = raw.headers.get("content-length");
    if (length !== null && !raw.headers.has("transfer-encoding")) {
      if (Number(length) > maxBytes) throw tooLarge();
      return next();
    }
    const chunks: Uint8Array[] = [];
    let size = 0;
    for await (const chunk of raw.body as AsyncIterable<Uint8Array>) {
      size += chunk.byteLength;
      if (size > maxBytes) throw tooLarge();
      chunks.push(chunk);
    }
    c.req.raw = new Request(raw.url, {
      method: raw.method,
      headers: raw.headers,
      body: Buffer.concat(chunks),
    });
    return next();
  };
}

const JSON_MEDIA_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i;

/** 415 for a request with a body (POST, PUT, PATCH) that is not JSON. */
export function requireJsonBody(): MiddlewareHandler {
  return async (c, next) => {
    if (["POST", "PUT", "PATCH"].includes(c.req.method)) {
      const type = c.req.header("content-type") ?? "";
      if (!JSON_MEDIA_TYPE.test(type)) {
        throw new HopGateError(
          "unsupported_media_type",
          `request body must be application/json, not ${type === "" ? "untyped" : type}`,
        );
      }
    }
    await next();
  };
}
