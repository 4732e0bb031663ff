// Opens many idle TLS connections to a server from one address, in its own process: each
// completes its handshake (ALPN `alpn`, h2 by default as browsers negotiate) and then sends
// nothing. Usage: tls-flood.ts <json {port, servername, count, alpn?}>; prints
// {"accepted": N, "failed": M} once every connection has finished its handshake or failed, then
// holds them until killed (SIGTERM closes them all at once, as a flood that stops).
import tls from "node:tls";
import { connectionTally } from "./connection-tally.js";

interface Options {
  readonly port: number;
  readonly servername: string;
  readonly count: number;
  readonly alpn?: string;
}

/** Handshakes in flight at once: more only overflow the listen backlog and retry SYNs. */
const PARALLEL_HANDSHAKES = 200;

const options = JSON.parse(process.argv[2] ?? "{}") as Options;
const nextConnection = connectionTally(options.count);
const held: tls.TLSSocket[] = [];
let next = 0;

function open(): Promise<void> {
  return new Promise((resolve) => {
    const answer = nextConnection();
    const socket = tls.connect({
      host: "127.0.0.1",
      port: options.port,
      servername: options.servername,
      ALPNProtocols: [options.alpn ?? "h2"],
      rejectUnauthorized: false,
    });
    held.push(socket);
    socket.once("secureConnect", () => {
      answer(true);
      resolve();
    });
    socket.on("error", () => {
      answer(false);
      resolve();
    });
    // What the server sends (HTTP/2 SETTINGS) is read and dropped.
    socket.on("data", () => undefined);
  });
}

await Promise.all(
  Array.from({ length: PARALLEL_HANDSHAKES }, async () => {
    while (next < options.count) {
      next++;
      await open();
    }
  }),
);
process.on("SIGTERM", () => {
  for (const socket of held) socket.destroy();
  process.exit(0);
});
