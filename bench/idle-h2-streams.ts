// Opens many idle HTTP/2 connections to a server, in its own process, each holding one open
// stream (request headers sent, no body, no end): what a tunnel holds, without the tunnel
// protocol, for the plain server of bench/plain-h2-server.ts. Usage:
// idle-h2-streams.ts <json {url, count}>; prints {"accepted": N, "failed": M} once every
// connection has answered a PING sent after its stream's headers, then holds them until killed.
import http2 from "node:http2";
import { connectionTally, spreadArrival } from "./connection-tally.js";

interface Options {
  readonly url: string;
  readonly count: number;
}

const options = JSON.parse(process.argv[2] ?? "{}") as Options;
const nextConnection = connectionTally(options.count);

for (let i = 0; i < options.count; i++) {
  const session = http2.connect(options.url, { rejectUnauthorized: false });
  const answer = nextConnection();
  session.on("error", () => answer(false));
  const stream = session.request({ ":method": "POST", ":path": "/" }, { endStream: false });
  stream.on("error", () => answer(false));
  // The PING goes out after the stream's HEADERS: its acknowledgement means the server has them.
  stream.once("ready", () => setImmediate(() => session.ping((error) => answer(error === null))));
  await spreadArrival(i);
}
process.on("SIGTERM", () => process.exit(0));
