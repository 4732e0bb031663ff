import type { TLSSocket } from "node:tls";

/** One HTTP/1.1 response as a raw visitor read it off its connection. */
export interface RawResponse {
  readonly status: number;
  /** Lowercased names; repeated fields joined with ", ". */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
}

/**
 * A reader of HTTP/1.1 responses (RFC 9112 §6.3 framing: none for HEAD, 1xx, 204 and 304,
 * then chunked, Content-Length or the connection's end) from a visitor's own socket, for
 * requests written byte by byte. Responses are read in order, as pipelining requires.
 */
export class Http1ResponseReader {
  #buffered = Buffer.alloc(0);
  #ended = false;
  #wake: (() => void) | undefined;

  constructor(socket: TLSSocket) {
    socket.on("data", (chunk: Buffer) => {
      this.#buffered = Buffer.concat([this.#buffered, chunk]);
      this.#wake?.();
    });
    socket.on("close", () => {
      this.#ended = true;
      this.#wake?.();
    });
    socket.on("error", () => undefined);
  }

  /** The next response to a request with method `method`; rejects when the connection ends first. */
  async next(method: string): Promise<RawResponse> {
    const headEnd = await this.#until(() => {
      const at = this.#buffered.indexOf("\r\n\r\n");
      return at === -1 ? undefined : at;
    });
    const lines = this.#buffered.toString("latin1", 0, headEnd).split("\r\n");
    this.#buffered = this.#buffered.subarray(headEnd + 4);
    const status = Number(/^HTTP\/1\.1 (\d{3}) /.exec(lines[0] ?? "")?.[1] ?? NaN);
    // Inheriting nothing: a field named "constructor" or "__proto__" is read as sent.
    const headers = Object.create(null) as Record<string, string>;
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(":");
      const name = line.slice(0, colon).toLowerCase();
      const value = line.slice(colon + 1).trim();
      headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
    }
    if (method === "HEAD" || status < 200 || status === 204 || status === 304) {
      return { status, headers, body: Buffer.alloc(0) };
    }
    if (/chunked/i.test(headers["transfer-encoding"] ?? ""))
      return { status, headers, body: await this.#chunked() };
    const length = headers["content-length"];
    const bytes = length === undefined ? Infinity : Number(length);
    const body = await this.#until(() =>
      this.#buffered.length >= bytes
        ? this.#take(bytes)
        : this.#ended
          ? this.#take(this.#buffered.length)
          : undefined,
    );
    return { status, headers, body };
  }

  async #chunked(): Promise<Buffer> {
    const parts: Buffer[] = [];
    for (;;) {
      const lineEnd = await this.#until(() => {
        const at = this.#buffered.indexOf("\r\n");
        return at === -1 ? undefined : at;
      });
      const size = parseInt(this.#buffered.toString("latin1", 0, lineEnd), 16);
      const needed = lineEnd + 2 + size + 2;
      await this.#until(() => (this.#buffered.length >= needed ? true : undefined));
      parts.push(Buffer.from(this.#buffered.subarray(lineEnd + 2, lineEnd + 2 + size)));
      this.#buffered = this.#buffered.subarray(needed);
      if (size === 0) return Buffer.concat(parts);
    }
  }

  #take(bytes: number): Buffer {
    const taken = Buffer.from(this.#buffered.subarray(0, bytes));
    this.#buffered = this.#buffered.subarray(bytes);
    return taken;
  }

  async #until<T>(ready: () => T | undefined): Promise<T> {
    for (;;) {
      const value = ready();
      if (value !== undefined) return value;
      if (this.#ended) throw new Error(`connection ended; unread: ${this.#buffered.toString("latin1")}`);
      await new Promise<void>((resolve) => (this.#wake = resolve));
      this.#wake = undefined;
    }
  }
}
