import assert from "node:assert/strict";
import { createServer, type AddressInfo, type Socket } from "node:net";
import { describe, it, type TestContext } from "node:test";
import { startGateway, startTestClient } from "../helpers/gateway.js";
import { pollUntil } from "../helpers/poll-until.js";
import { visit } from "../helpers/visit.js";

interface SeenRequest {
  readonly connection: number;
  readonly head: string;
}

interface RawBackend {
  readonly url: string;
  readonly requests: SeenRequest[];
  /** Connections the client closed, by number. */
  readonly closedByClient: Set<number>;
}

/**
 * An HTTP/1.1 backend on a raw socket, so that a test decides exactly when a keep-alive
 * connection dies: it answers each request with `response`, except that the second request on a
 * connection is met with a reset when `resetSecondRequest` holds (a backend that closed an idle
 * connection just as the client reused it). Requests carry no body.
 */
async function startRawBackend(
  t: TestContext,
  options: { readonly response: string; readonly resetSecondRequest: boolean },
): Promise<RawBackend> {
  const requests: SeenRequest[] = [];
  const closedByClient = new Set<number>();
  const sockets = new Set<Socket>();
  let connections = 0;
  const server = createServer((socket) => {
    const connection = ++connections;
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => socket.destroy());
    socket.on("end", () => closedByClient.add(connection));
    let buffered = "";
    let served = 0;
    socket.on("data", (chunk: Buffer) => {
      buffered += chunk.toString("latin1");
      let end: number;
      while ((end = buffered.indexOf("\r\n\r\n")) >= 0) {
        const head = buffered.slice(0, end);
        buffered = buffered.slice(end + 4);
        requests.push({ connection, head });
        if (++served === 2 && options.resetSecondRequest) return void socket.resetAndDestroy();
        const { response } = options;
        socket.write(
          head.startsWith("HEAD ") ? response.slice(0, response.indexOf("\r\n\r\n") + 4) : response,
        );
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests, closedByClient };
}

const OK = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

describe("the client's connections to a local service", () => {
  for (const { method, headers, resent } of [
    { method: "GET", headers: {}, resent: true },
    { method: "HEAD", headers: {}, resent: true },
    { method: "POST", headers: { "content-length": "0" }, resent: false },
    { method: "DELETE", headers: {}, resent: false },
    { method: "POST", headers: { "content-length": "0", "idempotency-key": "order-17" }, resent: true },
  ]) {
    const marked = "idempotency-key" in headers ? " with an Idempotency-Key" : "";
    it(`${resent ? "sends" : "never sends"} a ${method}${marked} again when its reused connection was reset before any response`, async (t) => {
      const gateway = await startGateway(t);
      const backend = await startRawBackend(t, { response: OK, resetSecondRequest: true });
      const domain = `resend-${method.toLowerCase()}.example.test`;
      const key = await gateway.register(domain);
      await startTestClient(t, gateway, domain, key, [`web=${backend.url}`]).connected;

      assert.equal((await visit(gateway.port, domain, "/first")).status, 200);
      const response = await visit(gateway.port, domain, "/second", { method, headers });

      const second = backend.requests.filter((r) => r.head.startsWith(`${method} /second `));
      if (resent) {
        assert.equal(response.status, 200);
        assert.deepEqual(
          second.map((r) => r.connection),
          [1, 2],
          "met the reset on the pooled connection, then answered on a new one",
        );
      } else {
        assert.equal(response.status, 502, "the visitor is told, not given a replayed side effect");
        assert.equal(second.length, 1, "the backend saw the request once");
      }
    });
  }

  it("closes an idle connection before the backend's announced Keep-Alive timeout", async (t) => {
    const gateway = await startGateway(t);
    const backend = await startRawBackend(t, {
      response: "HTTP/1.1 200 OK\r\nKeep-Alive: timeout=2\r\nContent-Length: 2\r\n\r\nok",
      resetSecondRequest: false,
    });
    const key = await gateway.register("hint.example.test");
    await startTestClient(t, gateway, "hint.example.test", key, [`web=${backend.url}`]).connected;
    assert.equal((await visit(gateway.port, "hint.example.test", "/")).status, 200);
    // The backend itself never closes: only the client's idle timer (2 s - 1 s) can.
    await pollUntil(
      () => backend.closedByClient.has(1),
      10_000,
      () => "the client kept the idle connection past the backend's timeout",
    );
    assert.equal((await visit(gateway.port, "hint.example.test", "/")).status, 200);
    assert.deepEqual(
      backend.requests.map((r) => r.connection),
      [1, 2],
      "the next request took a new connection",
    );
  });
});
