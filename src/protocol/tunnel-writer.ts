import type { Http2Stream } from "node:http2";
import { encodeGrpcMessageParts } from "./envelope-encoder.js";
import type { OutboundQueue } from "./outbound-queue.js";

/**
 * Moves a tunnel's outbound frames onto its HTTP/2 stream as gRPC messages. Frames queued in
 * the same turn of the event loop are written together (one FrameBatch on v2) in the loop's
 * check phase (setImmediate), after every I/O callback of that turn had its chance to queue
 * frames; no more is taken while the stream's buffer is full, so the queue fills and its
 * writers wait (HTTP/2 flow control reaches every stream of the tunnel through the queue).
 * StreamData bodies are written where they lie, between the message's other bytes (writev),
 * not copied into the message (envelope-encoder.ts, encodeGrpcMessageParts).
 * `onQueueEnded` runs once the queue has ended and everything queued before was written.
 */
export function startTunnelWriter(queue: OutboundQueue, stream: Http2Stream, onQueueEnded: () => void): void {
  let scheduled = false;
  let waitingForDrain = false;
  let finished = false;
  const schedule = () => {
    if (scheduled || waitingForDrain || finished) return;
    scheduled = true;
    setImmediate(flush);
  };
  const flush = () => {
    scheduled = false;
    waitingForDrain = false;
    if (finished) return;
    if (stream.destroyed) {
      finished = true;
      return;
    }
    // Corked: the pieces of the messages taken now reach the stream as one writev.
    stream.cork();
    while (!stream.writableNeedDrain) {
      const envelope = queue.take();
      if (!envelope) break;
      const parts = encodeGrpcMessageParts(envelope, buffers.allocate);
      const last = parts.length - 1;
      for (let i = 0; i < last; i++) stream.write(parts[i]);
      stream.write(parts[last], buffers.releaser(buffers.lastAllocated));
    }
    stream.uncork();
    if (queue.readable) {
      waitingForDrain = true;
      stream.once("drain", flush);
    } else if (queue.ended) {
      finished = true;
      onQueueEnded();
    }
  };
  stream.once("close", () => (finished = true));
  queue.setConsumer(schedule);
  schedule();
}

/** Messages at least this large are written from reused buffers; smaller ones come from Node's pool. */
const POOLED_MIN_BYTES = 64 * 1024;
/** A FrameBatch stops growing past 256 KiB of frames; its last frame adds at most one chunk. */
const POOLED_BUFFER_BYTES = 512 * 1024;
/** Large messages in flight at once: the writer waits for "drain" after each (16 KiB mark). */
const MAX_FREE_BUFFERS = 4;

/**
 * Reused buffers for large messages: a bulk transfer would otherwise allocate a fresh 256 KiB
 * ArrayBuffer per message, which V8 frees only at its next GC, so resident memory grew with
 * the bytes moved (docs/performance.md). A buffer is reused once its write has completed, by
 * whichever tunnel of the process writes next: one pool per process, not per tunnel (an idle
 * tunnel's own pool and closures were ~0.3 KiB each, docs/performance.md change 19).
 */
class MessageBuffers {
  readonly #free: Buffer[] = [];
  readonly #inUse = new WeakMap<Buffer, Buffer>();

  /** The buffer `allocate` returned last. */
  lastAllocated: Buffer | undefined;

  readonly allocate = (bytes: number): Buffer => {
    if (bytes < POOLED_MIN_BYTES || bytes > POOLED_BUFFER_BYTES)
      return (this.lastAllocated = Buffer.allocUnsafe(bytes));
    const base = this.#free.pop() ?? Buffer.allocUnsafeSlow(POOLED_BUFFER_BYTES);
    const view = base.subarray(0, bytes);
    this.#inUse.set(view, base);
    return (this.lastAllocated = view);
  };

  /** The write callback that returns `message`'s buffer once written (undefined when not pooled). */
  releaser(message: Buffer | undefined): (() => void) | undefined {
    const base = message && this.#inUse.get(message);
    if (!base) return undefined;
    return () => {
      if (this.#free.length < MAX_FREE_BUFFERS) this.#free.push(base);
    };
  }
}

const buffers = new MessageBuffers();
