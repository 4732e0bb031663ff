import type { Http2Stream } from "node:http2";

interface WritableInternals {
  _write(chunk: unknown, encoding: BufferEncoding | "buffer", callback: (error?: Error | null) => void): void;
  _writev: unknown;
}

/**
 * Makes an exchange stream of the peer link (an HTTP/2 stream used as the socket of an HTTP/1.1
 * client or server) send every write as its own Buffer: a string chunk (node's HTTP/1.1 code
 * writes each message head as one, corked with the first body chunk) is encoded here first.
 * Node 24 hands a string chunk to the HTTP/2 stream as a native copy that can be freed before
 * nghttp2 has sent it: under load the other end then read freed memory where the response
 * head belonged and the relay failed with 502 tunnel_closed (docs/scale-out.md, limits). A
 * Buffer chunk stays referenced by its write request, and no such corruption was seen.
 */
export function sendBuffersOnly(stream: Http2Stream): void {
  const internals = stream as unknown as WritableInternals;
  const write = internals._write.bind(stream);
  internals._writev = null;
  internals._write = (chunk, encoding, callback) =>
    typeof chunk === "string"
      ? write(Buffer.from(chunk, encoding as BufferEncoding), "buffer", callback)
      : write(chunk, encoding, callback);
}
