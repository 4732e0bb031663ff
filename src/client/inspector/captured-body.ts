/**
 * A body as the inspector keeps it: at most `capBytes` of it, and its whole size. Chunks are
 * copied, never kept: the tunnel reuses its buffers.
 */
export class CapturedBody {
  readonly #capBytes: number;
  readonly #chunks: Buffer[] = [];
  #keptBytes = 0;
  #totalBytes = 0;

  constructor(capBytes: number) {
    this.#capBytes = capBytes;
  }

  static of(bytes: Buffer, capBytes: number): CapturedBody {
    const body = new CapturedBody(capBytes);
    body.add(bytes);
    return body;
  }

  add(chunk: Uint8Array): void {
    this.#totalBytes += chunk.byteLength;
    const room = this.#capBytes - this.#keptBytes;
    if (room <= 0) return;
    const kept = Buffer.from(chunk.subarray(0, room));
    this.#chunks.push(kept);
    this.#keptBytes += kept.byteLength;
  }

  get totalBytes(): number {
    return this.#totalBytes;
  }

  get truncated(): boolean {
    return this.#totalBytes > this.#keptBytes;
  }

  /** The kept bytes (all of the body unless `truncated`). */
  bytes(): Buffer {
    if (this.#chunks.length > 1) this.#chunks.splice(0, this.#chunks.length, Buffer.concat(this.#chunks));
    return this.#chunks[0] ?? Buffer.alloc(0);
  }
}
