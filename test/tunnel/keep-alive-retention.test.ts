import assert from "node:assert/strict";
import https from "node:https";
import { describe, it } from "node:test";
import { queryObjects } from "node:v8";
import { BackendExchange } from "../../src/client/backend-exchange.js";
import { TunnelStream } from "../../src/protocol/tunnel-stream.js";
import { ProxiedExchange } from "../../src/server/proxy/proxied-exchange.js";
import { startBackend } from "../helpers/backend.js";
import { startGateway, startTestClient } from "../helpers/gateway.js";
import { pollUntil } from "../helpers/poll-until.js";
import { tlsFixture } from "../helpers/tls-fixture.js";

const DOMAIN = "retention.example.test";
const CONNECTIONS = 4;

/** Live instances after a full GC (queryObjects collects first). */
const live = () => ({
  streams: queryObjects(TunnelStream, { format: "count" }),
  proxied: queryObjects(ProxiedExchange, { format: "count" }),
  backend: queryObjects(BackendExchange, { format: "count" }),
});

describe("idle keep-alive connections", () => {
  // An exchange held until its connection's next request lives through scavenges and is
  // promoted to V8's old generation: at a steady rate, that made the major GCs (docs/performance.md).
  it("hold nothing of their finished exchanges, visitor side and backend side", async (t) => {
    const gateway = await startGateway(t);
    const backend = await startBackend(t, (_req, res) => {
      // Answered a little later, so that the requests overlap and open several connections.
      setTimeout(() => res.end("ok"), 50);
    });
    const key = await gateway.register(DOMAIN);
    await startTestClient(t, gateway, DOMAIN, key, [`web=${backend.url}`]).connected;
    const agent = new https.Agent({ keepAlive: true, maxSockets: CONNECTIONS, ca: tlsFixture().cert });
    t.after(() => agent.destroy());
    const get = () =>
      new Promise<number>((resolve, reject) => {
        const req = https.get(
          {
            host: "127.0.0.1",
            port: gateway.port,
            path: "/",
            servername: DOMAIN,
            headers: { host: DOMAIN },
            agent,
          },
          (res) => res.resume().on("end", () => resolve(res.statusCode ?? 0)),
        );
        req.on("error", reject);
      });

    const statuses = await Promise.all(Array.from({ length: CONNECTIONS }, get));
    assert.deepEqual(statuses, Array<number>(CONNECTIONS).fill(200));
    const idle = Object.values(agent.freeSockets).flat().length;
    assert.equal(idle, CONNECTIONS, "the visitor connections stay open, idle");

    await pollUntil(
      () => {
        const counts = live();
        return counts.streams === 0 && counts.proxied === 0 && counts.backend === 0;
      },
      5000,
      () => `still live after the exchanges finished: ${JSON.stringify(live())}`,
    );
    assert.equal(Object.values(agent.freeSockets).flat().length, CONNECTIONS, "and still open");
  });
});
