import assert from "node:assert/strict";
import { once } from "node:events";
import { writeFile } from "node:fs/promises";
import http2, { type ClientHttp2Session, type IncomingHttpHeaders } from "node:http2";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { startBackend } from "../helpers/backend.js";
import { openBrowserPage } from "../helpers/browser.js";
import { startFileClient } from "../helpers/file-client.js";
import { startGateway, startTestClient } from "../helpers/gateway.js";
import { grpcFrame, grpcMessages, startGrpcBackend } from "../helpers/grpc-backend.js";
import { lifoCleanup } from "../helpers/lifo-cleanup.js";
import { tlsFixture } from "../helpers/tls-fixture.js";
import { selfSignedCertificate } from "../helpers/self-signed-cert.js";
import { tempDir } from "../helpers/temp-dir.js";
import { startV1GoServer } from "../helpers/v1-go-server.js";
import { within } from "../helpers/within.js";

const DOMAIN = "grpc-inspect.example.test";

interface Detail {
  id: number;
  status: number | null;
  error: string | null;
  replay_of: number | null;
  request: { trailers: Array<[string, string]> };
  response: {
    headers: Array<[string, string]>;
    body: { kind: string; hex?: string };
    trailers: Array<[string, string]>;
    withheld_trailers: Array<{ name: string; reason: string; detail: string }>;
  };
}

/** One gRPC call from a visitor (HTTP/2 over TLS to the edge); resolves with its trailers. */
function grpcCall(
  session: ClientHttp2Session,
  message: string,
  requestTrailers?: Record<string, string>,
): Promise<IncomingHttpHeaders | undefined> {
  return new Promise((resolve, reject) => {
    const stream = session.request(
      {
        ":method": "POST",
        ":path": "/test.Echo/Unary",
        ":authority": DOMAIN,
        "content-type": "application/grpc",
        te: "trailers",
      },
      { waitForTrailers: requestTrailers !== undefined },
    );
    if (requestTrailers) stream.once("wantTrailers", () => stream.sendTrailers(requestTrailers));
    let trailers: IncomingHttpHeaders | undefined;
    stream.on("trailers", (fields: IncomingHttpHeaders) => (trailers = fields));
    stream.resume();
    stream.on("error", reject);
    stream.on("close", () => resolve(trailers));
    stream.end(grpcFrame(message));
  });
}

async function setUp(t: TestContext) {
  const gateway = await startGateway(t);
  const backend = await startGrpcBackend(t);
  const key = await gateway.register(DOMAIN);
  const client = startTestClient(t, gateway, DOMAIN, key, [`grpc=${backend.url}`], {
    inspect: "127.0.0.1:0",
  });
  await within(client.connected, "the client to connect");
  const base = (await client.handle).inspectorUrl ?? "";
  return { backend, base, visitor: await connectVisitor(t, gateway.port) };
}

/** A visitor's HTTP/2 connection over TLS to the gateway's edge, for DOMAIN. */
async function connectVisitor(t: TestContext, port: number): Promise<ClientHttp2Session> {
  const visitor = http2.connect(`https://127.0.0.1:${port}`, { ca: tlsFixture().cert, servername: DOMAIN });
  t.after(() => visitor.destroy());
  await once(visitor, "connect");
  return visitor;
}

async function detailOf(base: string, id: number): Promise<Detail> {
  return (await (await fetch(new URL(`/api/requests/${id}`, base))).json()) as Detail;
}

async function latestId(base: string): Promise<number> {
  const listed = (await (await fetch(new URL("/api/requests", base))).json()) as { requests: Detail[] };
  const latest = listed.requests[0];
  assert.ok(latest, "the call is listed");
  return latest.id;
}

const withheldOf = (detail: Detail) => detail.response.withheld_trailers.map((w) => [w.name, w.reason]);

async function replay(
  base: string,
  id: number,
): Promise<{ status: number; body: Detail & { error: string } }> {
  const response = await fetch(new URL(`/api/requests/${id}/replay`, base), {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: "{}",
  });
  return { status: response.status, body: (await response.json()) as Detail & { error: string } };
}

describe("request inspector: HTTP/2 services and trailers", () => {
  it("replays a gRPC call over HTTP/2 and shows its reply and trailers", async (t) => {
    const { backend, base, visitor } = await setUp(t);
    const trailers = await within(grpcCall(visitor, "hello"), "the gRPC call");
    assert.equal(trailers?.["grpc-status"], "0");
    const listed = (await (await fetch(new URL("/api/requests", base))).json()) as { requests: Detail[] };
    const original = listed.requests[0];
    assert.ok(original, "the call is listed");

    const replayed = await within(replay(base, original.id), "the replay");
    assert.equal(replayed.status, 200, JSON.stringify(replayed.body));
    assert.equal(replayed.body.replay_of, original.id);
    assert.equal(replayed.body.error, null);
    assert.equal(replayed.body.status, 200);
    assert.ok(
      replayed.body.response.headers.some(([n, v]) => n === "content-type" && v === "application/grpc"),
    );
    assert.deepEqual(grpcMessages(Buffer.from(replayed.body.response.body.hex ?? "", "hex")), ["echo:hello"]);
    const shown = new Map(replayed.body.response.trailers);
    assert.equal(shown.get("grpc-status"), "0");
    assert.equal(shown.get("x-trailer-method"), "Unary");

    // The backend is an HTTP/2-only server: it saw the replay as a second HTTP/2 stream.
    assert.equal(backend.requests.length, 2);
    const again = backend.requests[1] ?? {};
    assert.equal(again[":method"], "POST");
    assert.equal(again[":path"], "/test.Echo/Unary");
    assert.equal(again["content-type"], "application/grpc");
    assert.equal(again.te, "trailers");
    // The original's response trailers are shown as well.
    const originalDetail = (await (
      await fetch(new URL(`/api/requests/${original.id}`, base))
    ).json()) as Detail;
    assert.equal(new Map(originalDetail.response.trailers).get("grpc-status"), "0");
  });

  it("replays a call to an h2:// service over TLS, verifying its certificate with the service's ca_file", async (t) => {
    const certificate = await selfSignedCertificate();
    const backend = await startGrpcBackend(t, { tls: certificate });
    assert.match(backend.url, /^h2:\/\/127\.0\.0\.1:\d+$/);
    const gateway = await startGateway(t);
    const key = await gateway.register(DOMAIN);
    const dir = await tempDir(t);
    await writeFile(join(dir, "service-ca.pem"), certificate.cert);
    const path = join(dir, "hopgate.yaml");
    await writeFile(
      path,
      [
        `server: https://127.0.0.1:${gateway.port}`,
        `ca_file: ${gateway.caFile}`,
        "domains:",
        `  - domain: ${DOMAIN}`,
        `    api_key: ${key}`,
        `    services: [{ name: grpc, url: "${backend.url}", ca_file: service-ca.pem }]`,
      ].join("\n"),
    );
    const client = await startFileClient(t, path, { inspect: "127.0.0.1:0" });
    await within(client.connected, "the client to connect");
    const base = client.handle.inspectorUrl ?? "";
    const visitor = await connectVisitor(t, gateway.port);
    const trailers = await within(grpcCall(visitor, "secure"), "the gRPC call through the tunnel");
    assert.equal(trailers?.["grpc-status"], "0");
    const original = await detailOf(base, await latestId(base));

    const replayed = await within(replay(base, original.id), "the replay");
    assert.equal(replayed.status, 200, JSON.stringify(replayed.body));
    assert.equal(replayed.body.error, null);
    assert.equal(replayed.body.status, 200);
    assert.equal(replayed.body.replay_of, original.id);
    assert.deepEqual(grpcMessages(Buffer.from(replayed.body.response.body.hex ?? "", "hex")), [
      "echo:secure",
    ]);
    assert.equal(new Map(replayed.body.response.trailers).get("grpc-status"), "0");
    // The backend speaks only HTTP/2 over TLS: both calls reached it so, for the visitor's host.
    assert.equal(backend.requests.length, 2);
    for (const request of backend.requests) {
      assert.equal(request[":scheme"], "https");
      assert.equal(request[":authority"], DOMAIN);
      assert.equal(request[":path"], "/test.Echo/Unary");
    }

    // The replay trusts only the service's CA file, as the tunnel does: a certificate it does
    // not sign is refused before anything is sent.
    backend.useCertificate(await selfSignedCertificate());
    const untrusted = await within(replay(base, original.id), "the replay to an untrusted certificate");
    assert.equal(untrusted.body.status, 502, JSON.stringify(untrusted.body));
    assert.match(untrusted.body.error, /^backend: .*certificate/i);
    assert.equal(backend.requests.length, 2, "nothing reached the service over an untrusted connection");
  });

  it("says which response trailers the visitor did not get, and why; a replay's withholds none", async (t) => {
    const { base, visitor } = await setUp(t);
    const got = await within(grpcCall(visitor, "hello"), "the gRPC call");
    assert.equal(got?.["grpc-status"], "0");
    assert.equal(got?.["set-cookie"], undefined, "the visitor did not get set-cookie as a trailer");
    const original = await detailOf(base, await latestId(base));
    const shown = new Map(original.response.trailers);
    assert.equal(shown.get("set-cookie"), "••••••", "the backend's trailers are all shown");
    assert.equal(shown.get("x-hopgate-status"), "500");
    assert.deepEqual(withheldOf(original), [
      ["set-cookie", "not_a_trailer"],
      ["x-hopgate-status", "not_a_trailer"],
    ]);
    assert.match(original.response.withheld_trailers[0]?.detail ?? "", /not allowed as a trailer/);

    const replayed = await within(replay(base, original.id), "the replay");
    assert.equal(new Map(replayed.body.response.trailers).get("set-cookie"), "••••••");
    assert.deepEqual(
      replayed.body.response.withheld_trailers,
      [],
      "a replay has no visitor to withhold from",
    );
  });

  it("says that a server without the trailers capability (v1) relays none of them", async (t) => {
    const backend = await startGrpcBackend(t);
    const apiKey = "k".repeat(32);
    const server = await startV1GoServer(t, { credentials: { [DOMAIN]: apiKey } });
    const client = startTestClient(t, server, DOMAIN, apiKey, [`grpc=${backend.url}`], {
      inspect: "127.0.0.1:0",
    });
    const tunnel = await within(server.nextTunnel(), "the v1 tunnel");
    const base = (await client.handle).inspectorUrl ?? "";
    const call = await within(
      tunnel.forward({
        method: "POST",
        url: "/test.Echo/Unary",
        host: DOMAIN,
        header: { "Content-Type": ["application/grpc"] },
        body: grpcFrame("v1"),
      }),
      "the call over the v1 tunnel",
    );
    assert.deepEqual(grpcMessages(call.body), ["echo:v1"]);
    const detail = await detailOf(base, await latestId(base));
    assert.equal(new Map(detail.response.trailers).get("grpc-status"), "0");
    const withheld = new Map(detail.response.withheld_trailers.map((w) => [w.name, w]));
    assert.equal(withheld.get("grpc-status")?.reason, "not_relayed");
    assert.equal(withheld.get("x-trailer-method")?.reason, "not_relayed");
    assert.equal(withheld.get("set-cookie")?.reason, "not_a_trailer");
    assert.match(withheld.get("grpc-status")?.detail ?? "", /server does not relay trailers/);
    assert.equal(
      withheld.size,
      detail.response.trailers.length,
      "every trailer the backend sent is listed as withheld",
    );
  });

  it("refuses, saying why, to replay a request that ended with trailers", async (t) => {
    const { backend, base, visitor } = await setUp(t);
    await within(grpcCall(visitor, "hello", { "x-checksum": "abc" }), "the gRPC call");
    const listed = (await (await fetch(new URL("/api/requests", base))).json()) as { requests: Detail[] };
    const original = listed.requests[0];
    assert.ok(original, "the call is listed");
    const detail = (await (await fetch(new URL(`/api/requests/${original.id}`, base))).json()) as Detail;
    assert.deepEqual(detail.request.trailers, [["x-checksum", "abc"]]);

    const refused = await replay(base, original.id);
    assert.equal(refused.status, 409);
    assert.match(refused.body.error, /ended with trailers \(x-checksum\); the inspector cannot replay/);
    assert.equal(backend.requests.length, 1, "nothing was sent");
  });
  it("the page shows which trailers the visitor did not get, and a replayed gRPC call's trailers (Chromium)", async (t) => {
    const cleanup = lifoCleanup(t);
    const { backend, base, visitor } = await setUp(t);
    const page = await openBrowserPage(cleanup);
    await page.goto(base);
    await page.getByText("live").waitFor({ timeout: 60_000 });
    await within(grpcCall(visitor, "hello"), "the gRPC call");
    const row = page.locator("tr.row", { hasText: "/test.Echo/Unary" });
    await row.waitFor({ timeout: 60_000 });
    await row.click();
    await page.getByRole("heading", { name: "Response trailers" }).waitFor({ timeout: 60_000 });
    await page
      .getByRole("heading", { name: "Trailers the visitor did not get" })
      .waitFor({ timeout: 60_000 });
    const withheld = await page.locator("#withheld-trailers li").allInnerTexts();
    assert.equal(withheld.length, 2, withheld.join("\n"));
    assert.match(withheld[0] ?? "", /^set-cookie: dropped: not allowed as a trailer field/);
    assert.match(withheld[1] ?? "", /^x-hopgate-status: dropped: not allowed as a trailer field/);
    await page.locator("#replay").click();
    await page.locator("#detail-status", { hasText: "replay of #1" }).waitFor({ timeout: 60_000 });
    assert.match(await page.locator("#detail-status").innerText(), /Status 200/);
    const trailers = page
      .getByRole("heading", { name: "Response trailers" })
      .locator("xpath=following-sibling::pre[1]");
    const shown = await trailers.innerText();
    assert.match(shown, /^grpc-status: 0$/m);
    assert.match(shown, /^x-trailer-method: Unary$/m);
    assert.match(shown, /^set-cookie: ••••••$/m, "credentials in trailers are masked too");
    assert.equal(await page.locator("#withheld-trailers").count(), 0, "a replay has no visitor");
    assert.equal(backend.requests.length, 2, "the replay reached the HTTP/2 backend");
  });
  it("records an HTTP/1.1 service's trailers both ways, and refuses that replay too", async (t) => {
    const gateway = await startGateway(t);
    const got: Array<Record<string, string>> = [];
    const backend = await startBackend(t, (req, res) => {
      req.resume();
      req.on("end", () => {
        got.push({ ...req.trailers } as Record<string, string>);
        res.writeHead(200, { "content-type": "text/plain", trailer: "x-sum" });
        res.write("ok");
        res.addTrailers({ "x-sum": "42" });
        res.end();
      });
    });
    const key = await gateway.register(DOMAIN);
    const client = startTestClient(t, gateway, DOMAIN, key, [`web=${backend.url}`], {
      inspect: "127.0.0.1:0",
    });
    await within(client.connected, "the client to connect");
    const base = (await client.handle).inspectorUrl ?? "";
    const visitor = http2.connect(`https://127.0.0.1:${gateway.port}`, {
      ca: tlsFixture().cert,
      servername: DOMAIN,
    });
    t.after(() => visitor.destroy());
    await once(visitor, "connect");
    await within(grpcCall(visitor, "hello", { "x-checksum": "abc" }), "the call");
    assert.deepEqual(got, [{ "x-checksum": "abc" }], "the HTTP/1.1 service got the request trailers");
    const listed = (await (await fetch(new URL("/api/requests", base))).json()) as { requests: Detail[] };
    const id = listed.requests[0]?.id ?? 0;
    const detail = (await (await fetch(new URL(`/api/requests/${id}`, base))).json()) as Detail;
    assert.deepEqual(detail.request.trailers, [["x-checksum", "abc"]]);
    assert.deepEqual(detail.response.trailers, [["x-sum", "42"]]);
    assert.equal((await replay(base, id)).status, 409);
    assert.equal(got.length, 1, "nothing was sent");
  });
});
