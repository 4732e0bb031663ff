import { connect, type TLSSocket } from "node:tls";
import { tlsFixture } from "./tls-fixture.js";

/** What a raw visitor saw before its connection closed (or it gave up). */
export interface RawOutcome {
  /** Every byte the server sent, as latin1 text. */
  readonly received: string;
  /** Whether the server closed (or reset) the connection before `giveUpMs`. */
  readonly closed: boolean;
  /** Time from the TLS handshake to the close, or to giving up. */
  readonly elapsedMs: number;
}

export interface RawVisitor {
  readonly socket: TLSSocket;
  /** Resolves once the server has closed the connection, or after `giveUpMs` (socket then destroyed). */
  outcome(giveUpMs: number): Promise<RawOutcome>;
  /** Resolves with everything received so far once `text` appears `count` times in it (rejects on close before). */
  waitFor(text: string, count?: number): Promise<string>;
}

/**
 * A visitor speaking raw bytes over real TLS to 127.0.0.1:`port` (SNI `servername`, ALPN
 * `alpn`), for requests no well-behaved client would send: slow heads, conflicting framing.
 */
export async function rawVisitor(port: number, servername: string, alpn = "http/1.1"): Promise<RawVisitor> {
  const socket = connect({
    host: "127.0.0.1",
    port,
    servername,
    ca: tlsFixture().cert,
    ALPNProtocols: [alpn],
  });
  await new Promise<void>((resolve, reject) => {
    socket.once("secureConnect", resolve);
    socket.once("error", reject);
  });
  const startedAtMs = Date.now();
  let received = "";
  let closed = false;
  const listeners = new Set<() => void>();
  socket.on("data", (chunk: Buffer) => {
    received += chunk.toString("latin1");
    for (const listener of listeners) listener();
  });
  socket.on("error", () => undefined);
  const closedAt = new Promise<number>((resolve) =>
    socket.once("close", () => {
      closed = true;
      for (const listener of listeners) listener();
      resolve(Date.now());
    }),
  );
  return {
    socket,
    async outcome(giveUpMs) {
      let timer: NodeJS.Timeout | undefined;
      const gaveUp = new Promise<undefined>(
        (resolve) => (timer = setTimeout(() => resolve(undefined), giveUpMs)),
      );
      const endedAtMs = await Promise.race([closedAt, gaveUp]);
      clearTimeout(timer);
      const wasClosed = endedAtMs !== undefined;
      socket.destroy();
      return { received, closed: wasClosed, elapsedMs: (endedAtMs ?? Date.now()) - startedAtMs };
    },
    waitFor(text, count = 1) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (received.split(text).length > count) {
            listeners.delete(check);
            resolve(received);
          } else if (closed) {
            listeners.delete(check);
            reject(
              new Error(`connection closed before ${JSON.stringify(text)}; got ${JSON.stringify(received)}`),
            );
          }
        };
        listeners.add(check);
        check();
      });
    },
  };
}
