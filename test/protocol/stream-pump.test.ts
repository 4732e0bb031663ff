import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { PassThrough } from "node:stream";
import { setImmediate as turn } from "node:timers/promises";
import { Multiplexer } from "../../src/protocol/multiplexer.js";
import { OutboundQueue } from "../../src/protocol/outbound-queue.js";
import { pumpIntoStream } from "../../src/protocol/stream-pump.js";
import { DEFAULT_TUNNEL_LIMITS } from "../../src/protocol/limits.js";

const KiB = 1024;
const WINDOW_BYTES = 256 * KiB;

/** A v2 tunnel's stream whose outbound frames are taken as soon as they are queued. */
function tunnelStream() {
  const outbound = new OutboundQueue({
    batching: false,
    maxBatchBytes: 256 * KiB,
    highWaterBytes: 1024 * KiB,
  });
  const sent: Buffer[] = [];
  outbound.setConsumer(() => {
    for (let envelope = outbound.take(); envelope; envelope = outbound.take()) {
      if (envelope.payload.case === "streamData") sent.push(Buffer.from(envelope.payload.value.data));
    }
  });
  const mux = new Multiplexer({
    outbound,
    limits: { ...DEFAULT_TUNNEL_LIMITS, windowBytes: WINDOW_BYTES },
    version: 2,
    onControl: () => undefined,
    onViolation: (detail) => assert.fail(detail),
  });
  const stream = mux.open("http-1");
  assert.ok(stream);
  return { stream, sent };
}

describe("pumpIntoStream", () => {
  it("keeps a source flowing while its chunks fit in the credit, pauses it when they do not, and loses nothing", async () => {
    const { stream, sent } = tunnelStream();
    const source = new PassThrough();
    let pauses = 0;
    const pause = source.pause.bind(source);
    source.pause = () => {
      pauses++;
      return pause();
    };
    let ended = false;
    pumpIntoStream(source, stream, "test: source closed", () => (ended = true));
    const chunk = (n: number) => Buffer.alloc(16 * KiB, n);
    // Within the window: no pause at all.
    for (let n = 0; n < 8; n++) source.write(chunk(n));
    await turn();
    assert.equal(pauses, 0, "a chunk that fit in the credit paused the source");
    assert.equal(Buffer.concat(sent).length, 8 * 16 * KiB);
    // Past the window (256 KiB): the source waits for credit, then goes on.
    for (let n = 8; n < 32; n++) source.write(chunk(n));
    source.end();
    await turn();
    assert.ok(pauses > 0, "the source was not paused without credit");
    assert.equal(Buffer.concat(sent).length, WINDOW_BYTES);
    assert.equal(stream.receiveCredit(WINDOW_BYTES), undefined);
    for (let i = 0; i < 10 && !ended; i++) await turn();
    assert.ok(ended, "the pump did not finish after credit came back");
    assert.deepEqual(Buffer.concat(sent), Buffer.concat(Array.from({ length: 32 }, (_, n) => chunk(n))));
  });
});
