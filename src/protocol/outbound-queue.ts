import { envelope } from "./frames.js";
import type { Envelope } from "./gen/hopgate/protocol/v1/tunnel_pb.js";

export interface OutboundQueueOptions {
  /** v2 only: several queued frames go out as one FrameBatch message. */
  batching: boolean;
  /** Upper bound of body bytes in one batch; keeps every gRPC message far below 4 MiB. */
  readonly maxBatchBytes: number;
  /** Body bytes queued beyond which `whenWritable()` waits (tunnel-wide backpressure). */
  readonly highWaterBytes: number;
}

/** Size counted for a frame without body bytes, so that control floods also count. */
const CONTROL_FRAME_BYTES = 64;

/**
 * The frames one side of a tunnel has yet to write. The tunnel writer takes the next message
 * only while the HTTP/2 stream is not congested, so the queue is where the tunnel's HTTP/2
 * backpressure becomes visible (`whenWritable`).
 */
export class OutboundQueue {
  readonly #options: OutboundQueueOptions;
  #frames: Envelope[] = [];
  #bytes: number[] = [];
  #head = 0;
  #queuedBytes = 0;
  #ended = false;
  #onReadable: (() => void) | undefined;
  #writable: Array<() => void> = [];

  constructor(options: OutboundQueueOptions) {
    this.#options = { ...options };
  }

  /** Turns batching on once the peer has confirmed v2 (client side). */
  enableBatching(): void {
    this.#options.batching = true;
  }

  get queuedBytes(): number {
    return this.#queuedBytes;
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** Queues a frame; returns false (and drops it) once the queue has ended. */
  push(frame: Envelope, bodyBytes = 0): boolean {
    if (this.#ended) return false;
    const size = bodyBytes + CONTROL_FRAME_BYTES;
    this.#frames.push(frame);
    this.#bytes.push(size);
    this.#queuedBytes += size;
    this.#notify();
    return true;
  }

  /** False while queued bytes are at or above the high-water mark. */
  get writable(): boolean {
    return this.#queuedBytes < this.#options.highWaterBytes;
  }

  /** Resolves once queued bytes are below the high-water mark (at once when they are). */
  whenWritable(): Promise<void> {
    if (this.#queuedBytes < this.#options.highWaterBytes || this.#ended) return Promise.resolve();
    return new Promise((resolve) => this.#writable.push(resolve));
  }

  /** No more frames: iteration finishes after the queued ones (or at once when `discard`). */
  end(discard = false): void {
    this.#ended = true;
    if (discard) {
      this.#frames = [];
      this.#bytes = [];
      this.#head = 0;
      this.#queuedBytes = 0;
    }
    this.#notify();
    this.#wakeWritable();
  }

  /**
   * The consumer (the tunnel writer): `onReadable` runs after every push and at the end, so the
   * consumer can schedule a `take()`. One consumer per queue.
   */
  setConsumer(onReadable: () => void): void {
    this.#onReadable = onReadable;
  }

  /** Frames are waiting. */
  get readable(): boolean {
    return this.#head < this.#frames.length;
  }

  /**
   * The next message to write: one frame, or (v2) as many queued frames as fit in one
   * FrameBatch. Undefined when nothing is queued.
   */
  take(): Envelope | undefined {
    return this.#head < this.#frames.length ? this.#take() : undefined;
  }

  #take(): Envelope {
    const available = this.#frames.length - this.#head;
    if (!this.#options.batching || available === 1) return this.#shift();
    const frames: Envelope[] = [];
    let batchBytes = 0;
    while (this.#head < this.#frames.length && batchBytes < this.#options.maxBatchBytes) {
      batchBytes += this.#bytes[this.#head] ?? 0;
      frames.push(this.#shift());
    }
    if (frames.length === 1 && frames[0]) return frames[0];
    return envelope({ case: "batch", value: { $typeName: "hopgate.protocol.v1.FrameBatch", frames } });
  }

  #shift(): Envelope {
    const frame = this.#frames[this.#head] as Envelope;
    this.#queuedBytes -= this.#bytes[this.#head] ?? 0;
    this.#head++;
    if (this.#head > 1024 && this.#head * 2 > this.#frames.length) {
      this.#frames = this.#frames.slice(this.#head);
      this.#bytes = this.#bytes.slice(this.#head);
      this.#head = 0;
    } else if (this.#head === this.#frames.length) {
      this.#frames.length = 0;
      this.#bytes.length = 0;
      this.#head = 0;
    }
    if (this.#queuedBytes < this.#options.highWaterBytes) this.#wakeWritable();
    return frame;
  }

  #notify(): void {
    this.#onReadable?.();
  }

  #wakeWritable(): void {
    if (this.#writable.length === 0) return;
    const waiters = this.#writable;
    this.#writable = [];
    for (const wake of waiters) wake();
  }
}
