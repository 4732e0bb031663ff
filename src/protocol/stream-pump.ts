import type { Readable } from "node:stream";
import type { TunnelStream } from "./tunnel-stream.js";

/**
 * Copies a Readable into a tunnel stream's outgoing side, reading only as fast as the stream
 * may send (credit and tunnel backpressure). Ends the stream cleanly after the source's last
 * chunk (calling `beforeEnd` first, for its trailers, then `onEnded`) and aborts it with `abortReason` when the source fails or
 * closes early. Never destroys `source`:
 * on HTTP/1.1 that would take the visitor's whole connection with it.
 */
export function pumpIntoStream(
  source: Readable,
  stream: TunnelStream,
  abortReason: string,
  onEnded?: () => void,
  beforeEnd?: () => void,
): void {
  let finished = false;
  // At most one write waits for credit or the queue (the source is paused meanwhile); the end
  // waits for it.
  let writing: Promise<boolean> | undefined;
  const onData = (chunk: Buffer) => {
    if (finished) return;
    // Most chunks fit in the credit and the queue at once: the source keeps flowing.
    const queued = stream.writeNow(chunk);
    if (queued === chunk.length) return;
    if (queued === -1) return stop();
    source.pause();
    writing = stream.write(queued === 0 ? chunk : chunk.subarray(queued));
    void writing.then((ok) => {
      writing = undefined;
      if (ok) source.resume();
      else stop();
    });
  };
  const onEnd = () => {
    if (finished) return;
    finished = true;
    detach();
    const end = () => {
      beforeEnd?.();
      stream.end();
      onEnded?.();
    };
    if (writing) void writing.then((ok) => ok && end());
    else end();
  };
  const onEarlyClose = () => {
    if (finished) return;
    finished = true;
    detach();
    stream.abort(abortReason);
  };
  // A finished source may outlive the exchange (node keeps a keep-alive connection's last
  // request and response until its next one): it must not hold the stream through these
  // closures meanwhile (docs/performance.md, change 11). A late error stays handled.
  const detach = () => {
    source.off("data", onData);
    source.off("end", onEnd);
    source.off("error", onEarlyClose);
    source.off("close", onEarlyClose);
    source.on("error", ignoreLateError);
  };
  // The stream is gone (aborted or the peer closed): discard whatever the source still sends.
  const stop = () => {
    finished = true;
    source.off("data", onData);
    source.resume();
  };
  source.on("data", onData);
  source.once("end", onEnd);
  source.once("error", onEarlyClose);
  source.once("close", onEarlyClose);
  source.resume();
}

function ignoreLateError(): void {
  // The pump has finished: nothing is left to abort.
}

/** What `deliverChunk` writes to: a Writable, an http(2) response or a socket. */
export interface ChunkDestination {
  readonly destroyed: boolean;
  readonly writableEnded: boolean;
  write(chunk: Uint8Array, callback: (error?: Error | null) => void): boolean;
  once(event: "drain" | "close", listener: () => void): unknown;
  off(event: "drain" | "close", listener: () => void): unknown;
}

/**
 * Hands one incoming chunk to `destination` and returns its credit once the chunk has left
 * userland (the write callback). On v1 tunnels, which have no credit, a congested destination
 * pauses the whole tunnel instead (the returned promise), so memory stays bounded either way.
 */
export function deliverChunk(
  destination: ChunkDestination,
  chunk: Uint8Array,
  stream: TunnelStream,
  version: 1 | 2,
): void | Promise<void> {
  if (destination.destroyed || destination.writableEnded) return;
  const bytes = chunk.length;
  const accepted = destination.write(chunk, () => stream.consumed(bytes));
  if (accepted || version === 2) return;
  return new Promise((resolve) => {
    const done = () => {
      destination.off("drain", done);
      destination.off("close", done);
      resolve();
    };
    destination.once("drain", done);
    destination.once("close", done);
  });
}
