// Opens many idle v2 tunnels to a HopGate server, in its own process, with the product's own
// tunnel call (one HTTP/2 connection each, as separate clients would). Usage:
// idle-tunnels.ts <json {url, domain, apiKey, count}>; prints {"accepted": N} once all answered,
// then holds them until killed.
import http2 from "node:http2";
import { runTunnelCall } from "../src/client/tunnel-call.js";
import { encodeHello } from "../src/protocol/handshake.js";
import { MAX_TUNNEL_MESSAGE_BYTES } from "../src/protocol/limits.js";
import { OutboundQueue } from "../src/protocol/outbound-queue.js";
import { connectionTally, spreadArrival } from "./connection-tally.js";

interface Options {
  readonly url: string;
  readonly domain: string;
  readonly apiKey: string;
  readonly count: number;
}

const options = JSON.parse(process.argv[2] ?? "{}") as Options;
const nextConnection = connectionTally(options.count);

for (let i = 0; i < options.count; i++) {
  // No servername: node would take it as the :authority, and the tunnel lives on the main host.
  const session = http2.connect(options.url, { rejectUnauthorized: false });
  session.on("error", () => undefined);
  const outbound = new OutboundQueue({
    batching: true,
    maxBatchBytes: 256 * 1024,
    highWaterBytes: 1024 * 1024,
  });
  outbound.push(
    encodeHello({
      domain: options.domain,
      apiKey: options.apiKey,
      localTarget: "127.0.0.1:9",
      services: [{ name: "web", pathPrefix: "/" }],
      clientVersion: "hopgate-bench",
    }),
  );
  const answer = nextConnection();
  void runTunnelCall({
    open: (headers) => Promise.resolve(session.request(headers)),
    outbound,
    maxMessageBytes: MAX_TUNNEL_MESSAGE_BYTES,
    userAgent: "hopgate-bench",
    signal: new AbortController().signal,
    onMessage: (envelope) => {
      if (envelope.payload.case === "ping") {
        outbound.push({
          $typeName: "hopgate.protocol.v1.Envelope",
          payload: {
            case: "pong",
            value: { $typeName: "hopgate.protocol.v1.Pong", nonce: envelope.payload.value.nonce },
          },
        });
      }
      answer(envelope.payload.case === "tunnelAccept");
    },
  }).then((status) => {
    if (process.env.BENCH_DEBUG)
      process.stdout.write(`${JSON.stringify({ ended: status.message, code: status.code })}\n`);
    answer(false);
  });
  await spreadArrival(i);
}
process.on("SIGTERM", () => process.exit(0));
