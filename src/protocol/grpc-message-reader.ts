/**
 * Splits the DATA bytes of a gRPC call into messages (grpc PROTOCOL-HTTP2.md,
 * Length-Prefixed-Message: a compressed flag, a 4-byte big-endian length, the message). A
 * message is handed on as the list of views of the chunks it arrived in, never copied (one
 * view when it lies inside one chunk). HopGate never negotiates compression, so a compressed
 * message is an error, as is a message above `maxMessageBytes`.
 */
export class GrpcMessageReader {
  readonly #maxMessageBytes: number;
  /** The 5-byte prefix of the next message, while it is incomplete. */
  readonly #prefix = Buffer.alloc(5);
  #prefixBytes = 0;
  /** The pieces of the message that spans chunks, and how many of its bytes are missing. */
  #message: Buffer[] | undefined;
  #missingBytes = 0;

  constructor(maxMessageBytes: number) {
    this.#maxMessageBytes = maxMessageBytes;
  }

  /** True while part of a message has arrived (a stream ending now was cut off). */
  get partial(): boolean {
    return this.#prefixBytes > 0 || this.#message !== undefined;
  }

  /** Feeds one chunk; calls `onMessage` for each complete message in order. Throws on bad framing. */
  push(chunk: Buffer, onMessage: (message: Buffer[]) => void): void {
    let at = 0;
    while (at < chunk.length) {
      if (this.#message) {
        at = this.#fill(chunk, at, onMessage);
        continue;
      }
      if (this.#prefixBytes === 0 && chunk.length - at >= 5) {
        const length = this.#checkPrefix(chunk[at] as number, chunk.readUInt32BE(at + 1));
        if (chunk.length - at - 5 >= length) {
          onMessage([chunk.subarray(at + 5, at + 5 + length)]);
          at += 5 + length;
          continue;
        }
        this.#startMessage(length);
        at += 5;
        continue;
      }
      const take = Math.min(5 - this.#prefixBytes, chunk.length - at);
      chunk.copy(this.#prefix, this.#prefixBytes, at, at + take);
      this.#prefixBytes += take;
      at += take;
      if (this.#prefixBytes < 5) continue;
      this.#prefixBytes = 0;
      const length = this.#checkPrefix(this.#prefix[0] as number, this.#prefix.readUInt32BE(1));
      if (length === 0) onMessage([EMPTY]);
      else this.#startMessage(length);
    }
  }

  #checkPrefix(flags: number, length: number): number {
    if (flags !== 0) throw new Error(`compressed or flagged gRPC message (flags ${flags})`);
    if (length > this.#maxMessageBytes) {
      throw new Error(`gRPC message of ${length} bytes exceeds the limit of ${this.#maxMessageBytes}`);
    }
    return length;
  }

  #startMessage(length: number): void {
    this.#message = [];
    this.#missingBytes = length;
  }

  #fill(chunk: Buffer, at: number, onMessage: (message: Buffer[]) => void): number {
    const message = this.#message as Buffer[];
    const take = Math.min(this.#missingBytes, chunk.length - at);
    message.push(chunk.subarray(at, at + take));
    this.#missingBytes -= take;
    if (this.#missingBytes === 0) {
      this.#message = undefined;
      onMessage(message);
    }
    return at + take;
  }
}

const EMPTY = Buffer.alloc(0);
