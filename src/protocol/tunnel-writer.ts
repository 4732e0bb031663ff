import type { Http2Stream } from "node:http2";
import { encodeGrpcMessage } from "./envelope-encoder.js";
import type { OutboundQueue } from "./outbound-queue.js";

/**
 * Moves a tunnel's outbound frames onto its HTTP/2 stream as gRPC messages. Frames queued in
 * the same turn of the event loop are written together (one FrameBatch on v2) in the loop's
 * check phase (setImmediate), after every I/O callback of that turn had its chance to queue
 * frames; no more is taken while the stream's buffer is full, so the queue fills and its
 * writers wait (HTTP/2 flow control reaches every stream of the tunnel through the queue).
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
    while (!stream.writableNeedDrain) {
      const message = queue.take();
      if (!message) break;
      stream.write(encodeGrpcMessage(message));
    }
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
