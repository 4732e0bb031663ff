import type { Http2Stream } from "node:http2";

interface WritableInternals {
  _write(chunk: unknown, encoding: BufferEncoding | "buffer", callback: (error?: Error | null) => void): void;
  _writev: unknown;
}

/**
 * Makes an HTTP/2 stream send every write as its own Buffer: no batch (`_writev`), and a
 * string chunk is encoded here first. Required where node's HTTP/1.1 code writes on the stream
 * (the peer link's exchange streams, docs/security.md "HTTP/2 writes"): node 24 writes a
 * batch's strings into one native copy owned by the batch's write request, and completes that
 * request when the stream reaches the batch's last chunk; an empty last chunk (the `''` that
 * `res.end()` writes) completes it before the session has sent the other chunks, so the copy
 * is freed first and the peer reads heap memory where the string (the response head) was
 * (scripts/h2-string-writes.ts). A lone write keeps its own bytes until they are sent.
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
