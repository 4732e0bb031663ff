import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { randomBytes } from "node:crypto";
import { echoed, startBackend, type BackendHandler, type Echo } from "../helpers/backend.js";
import { startGateway, startTestClient } from "../helpers/gateway.js";
import { until } from "../helpers/poll-until.js";
import { startV1GoClientTo } from "../helpers/v1-go-client.js";
import { startV1GoServer } from "../helpers/v1-go-server.js";
import { visit } from "../helpers/visit.js";

const DOMAIN = "app.example.test";

/** Answers with what it saw (an echo) and with hop-by-hop fields of its own. */
const hopByHopBackend: BackendHandler = (req, res) => {
  req.resume();
  req.on("end", () => {
    res.setHeader("connection", "x-backend-secret");
    res.setHeader("x-backend-secret", "from the backend's hop");
    res.setHeader("keep-alive", "timeout=99");
    res.setHeader("proxy-authenticate", 'Basic realm="backend"');
    res.setHeader("trailer", "x-checksum");
    res.setHeader("upgrade", "h2c");
    res.setHeader("x-end-to-end", "kept");
    res.setHeader("content-type", "application/json");
    res.write(
      JSON.stringify({
        method: req.method,
        url: req.url,
        rawHeaders: req.rawHeaders,
        bodyLength: 0,
        body: "",
      }),
    );
    res.end(); // chunked: node sends Trailer only with it
  });
};

/** What a visitor aims at the backend; only X-End-To-End may arrive. */
const VISITOR_FIELDS = {
  connection: "x-secret, keep-alive",
  "x-secret": "for the edge only",
  "keep-alive": "timeout=77",
  "proxy-connection": "keep-alive",
  "proxy-authorization": "Basic dmlzaXRvcjpzZWNyZXQ=",
  te: "trailers",
  "x-end-to-end": "kept",
};
const STOPPED_REQUEST_FIELDS = ["x-secret", "keep-alive", "proxy-connection", "proxy-authorization", "te"];
const STOPPED_RESPONSE_FIELDS = ["x-backend-secret", "proxy-authenticate", "trailer", "upgrade"];

/** The backend's echo as seen through the hop: none of the stopped fields, the end-to-end one kept. */
function assertRequestStripped(echo: Echo, where: string): void {
  for (const name of STOPPED_REQUEST_FIELDS) {
    assert.deepEqual(echoed(echo, name), [], `${name} passed ${where}`);
  }
  assert.ok(!echoed(echo, "connection").some((value) => /x-secret/i.test(value)), where);
  assert.deepEqual(echoed(echo, "x-end-to-end"), ["kept"], where);
}

/** Response fields (lowercase names) as they came through the hop. */
function assertResponseStripped(
  headers: Readonly<Record<string, string | string[] | undefined>>,
  where: string,
): void {
  for (const name of STOPPED_RESPONSE_FIELDS)
    assert.equal(headers[name], undefined, `${name} passed ${where}`);
  assert.notEqual(headers["keep-alive"], "timeout=99", `the backend's Keep-Alive passed ${where}`);
  assert.ok(!/x-backend-secret/i.test([headers.connection ?? ""].flat().join(", ")), where);
  assert.equal(headers["x-end-to-end"], "kept", where);
}

/**
 * RFC 9110 §7.6.1: a proxy removes Connection, the fields it names and the fixed hop-by-hop
 * fields before forwarding, in both directions. End to end through a real tunnel: the fields a
 * visitor aims at the backend, and those the backend aims at the visitor, stop at the hop. Server
 * and client both strip; the TypeScript emulations of the v1 Go peers, which forward what they
 * get, show each end doing it alone.
 */
describe("hop-by-hop fields through the tunnel", () => {
  it("strips them from requests (visitor to backend) and from responses (backend to visitor)", async (t) => {
    const gateway = await startGateway(t);
    const backend = await startBackend(t, hopByHopBackend);
    const key = await gateway.register(DOMAIN);
    await startTestClient(t, gateway, DOMAIN, key, [`web=${backend.url}`]).connected;
    // HTTP/2 forbids connection-specific fields in requests (RFC 9113 §8.2.2): the request
    // direction is HTTP/1.1's; responses reach visitors of both protocols.
    const request = await visit(gateway.port, DOMAIN, "/hop", { headers: VISITOR_FIELDS });
    assert.equal(request.status, 200, request.body.toString());
    assertRequestStripped(JSON.parse(request.body.toString()) as Echo, "server and client");
    for (const http2 of [false, true]) {
      const response = await visit(gateway.port, DOMAIN, "/hop", { http2 });
      assert.equal(response.status, 200);
      assertResponseStripped(response.headers, `to an ${http2 ? "HTTP/2" : "HTTP/1.1"} visitor`);
    }
  });

  it("the server strips them alone (client: the v1 Go client emulation, which strips nothing)", async (t) => {
    const gateway = await startGateway(t);
    const backend = await startBackend(t, hopByHopBackend);
    const apiKey = await gateway.register(DOMAIN);
    startV1GoClientTo(t, gateway, { domain: DOMAIN, apiKey, localTarget: `127.0.0.1:${backend.port}` });
    await until(() => gateway.server.registry.hasTunnel(DOMAIN), "the v1 tunnel to be registered");
    const request = await visit(gateway.port, DOMAIN, "/hop", { headers: VISITOR_FIELDS });
    assert.equal(request.status, 200, request.body.toString());
    assertRequestStripped(JSON.parse(request.body.toString()) as Echo, "the server");
    for (const http2 of [false, true]) {
      const response = await visit(gateway.port, DOMAIN, "/hop", { http2 });
      assertResponseStripped(response.headers, "the server");
    }
  });

  it("the client strips them alone (server: the v1 Go server emulation, which strips nothing)", async (t) => {
    const backend = await startBackend(t, hopByHopBackend);
    const apiKey = randomBytes(32).toString("hex");
    const server = await startV1GoServer(t, { credentials: { [DOMAIN]: apiKey } });
    startTestClient(t, server, DOMAIN, apiKey, [`web=${backend.url}`]);
    const tunnel = await server.nextTunnel();
    const header = Object.fromEntries(Object.entries(VISITOR_FIELDS).map(([name, value]) => [name, [value]]));
    const response = await tunnel.forward({ method: "GET", url: "/hop", host: DOMAIN, header });
    assert.equal(response.status, 200, response.body.toString());
    assertRequestStripped(JSON.parse(response.body.toString()) as Echo, "the client");
    const headers: Record<string, string> = {};
    for (const [name, entry] of Object.entries(response.header))
      headers[name.toLowerCase()] = entry.values.join(", ");
    assertResponseStripped(headers, "the client");
  });
});
