import assert from "node:assert/strict";
import type { IncomingMessage } from "node:http";
import https from "node:https";
import type { Socket } from "node:net";
import { describe, it } from "node:test";
import fc from "fast-check";
import { WebSocketServer } from "ws";
import { AMBIGUOUS_PATH_FORMS, type AmbiguousPathForm } from "../../src/protocol/ambiguous-path.js";
import { normalizePath, normalizePathAndQuery } from "../../src/protocol/path-normalization.js";
import { startBackend } from "../helpers/backend.js";
import { backendReadings, isUnder } from "../helpers/backend-path-readings.js";
import { encodedPath } from "../helpers/encoded-paths.js";
import { startGateway, startTestClient, type Gateway } from "../helpers/gateway.js";
import { tlsFixture } from "../helpers/tls-fixture.js";
import { visit } from "../helpers/visit.js";

const ADMIN_KEY = "ambiguous-path-admin-key-0123456789";
const DOMAIN = "app.example.test";
const PROTECTED = "/admin";

/** A WebSocket handshake for `path`, sent as it is (a WebSocket client would resolve `..`). */
async function upgrade(port: number, path: string): Promise<number> {
  const req = https.request({
    host: "127.0.0.1",
    port,
    path,
    servername: DOMAIN,
    ca: tlsFixture().cert,
    agent: false,
    headers: {
      host: DOMAIN,
      connection: "Upgrade",
      upgrade: "websocket",
      "sec-websocket-version": "13",
      "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
    },
  });
  req.end();
  return new Promise((resolve, reject) => {
    req.on("error", reject);
    req.on("upgrade", (res: IncomingMessage, socket: Socket) => {
      socket.destroy();
      resolve(res.statusCode ?? 0);
    });
    req.on("response", (res: IncomingMessage) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
  });
}

describe("paths a backend could read as another, behind forward auth", () => {
  it("never lets a path that a decoding backend routes under a protected prefix past the auth service, over HTTP/1.1, HTTP/2 and WebSocket", async (t) => {
    const gateway = await startGateway(t, { adminApiKey: ADMIN_KEY });
    // The operator's rule, in the auth service: nothing under /admin without a login.
    const told: string[] = [];
    const auth = await startBackend(t, (req, res) => {
      const uri = String(req.headers["x-forwarded-uri"]);
      told.push(uri);
      res.writeHead(isUnder(PROTECTED, uri.split("?")[0]!) ? 403 : 204);
      res.end();
    });
    const seen: string[] = [];
    const backend = await startBackend(t, (req, res) => {
      seen.push(req.url ?? "");
      res.end("backend");
    });
    const wss = new WebSocketServer({ server: backend.server });
    wss.on("connection", (_socket, req) => seen.push(req.url ?? ""));
    t.after(() => wss.close());
    const key = await gateway.register(DOMAIN);
    await startTestClient(t, gateway, DOMAIN, key, [`web=${backend.url}`]).connected;
    const put = await visit(gateway.port, "gateway.test", `/api/v1/admin/domains/${DOMAIN}/access`, {
      method: "PUT",
      headers: { authorization: `Bearer ${ADMIN_KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ forward_auth: { url: `${auth.url}/verify`, copy_headers: [] } }),
    });
    assert.equal(put.status, 200, put.body.toString());

    const transport = fc.constantFrom("h1", "h2", "ws");
    let reachedProtected = 0;
    let forwarded = 0;
    await fc.assert(
      fc.asyncProperty(encodedPath, transport, async (path, via) => {
        const before = seen.length;
        const status =
          via === "ws"
            ? await upgrade(gateway.port, path)
            : (await visit(gateway.port, DOMAIN, path, { http2: via === "h2" })).status;
        const normalized = normalizePath(path);
        const what = `${path} over ${via}: ${status}`;
        if (!normalized.ok) {
          assert.equal(status, 400, what);
          assert.equal(seen.length, before, what);
          return;
        }
        const readings = backendReadings(normalized.path);
        if (readings.some((reading) => isUnder(PROTECTED, reading))) {
          reachedProtected += 1;
          assert.ok(status === 400 || status === 403, `a backend reads ${readings.join(" ")}; ${what}`);
          assert.equal(seen.length, before, `the backend was reached: ${what}`);
          return;
        }
        if (status === 400) {
          // Refused only for what some backend reads differently (an escape or a `;`).
          assert.match(normalized.path, /[%;]/, what);
          assert.equal(seen.length, before, what);
          return;
        }
        forwarded += 1;
        assert.equal(status, via === "ws" ? 101 : 200, what);
        assert.deepEqual(seen.slice(before), [normalized.path], `forwarded unchanged: ${what}`);
      }),
      { numRuns: 150 },
    );
    // The generator reached both sides of the rule.
    assert.ok(
      reachedProtected >= 20 && forwarded >= 5,
      `${reachedProtected} protected, ${forwarded} forwarded`,
    );
    assert.ok(
      !told.some((uri) => /%(?:25)*(?:2F|5C)|;/i.test(uri)),
      "the auth service was told an ambiguous path",
    );
  });

  it("with forms allowed, tells the auth service exactly the path and query the backend receives, and still refuses the forms not allowed, over HTTP/1.1, HTTP/2 and WebSocket", async (t) => {
    const gateway = await startGateway(t, { adminApiKey: ADMIN_KEY });
    const told: string[] = [];
    const auth = await startBackend(t, (req, res) => {
      told.push(String(req.headers["x-forwarded-uri"]));
      res.writeHead(204);
      res.end();
    });
    const seen: string[] = [];
    const backend = await startBackend(t, (req, res) => {
      seen.push(req.url ?? "");
      res.end("backend");
    });
    const wss = new WebSocketServer({ server: backend.server });
    wss.on("connection", (_socket, req) => seen.push(req.url ?? ""));
    t.after(() => wss.close());
    const key = await gateway.register(DOMAIN);
    await startTestClient(t, gateway, DOMAIN, key, [`web=${backend.url}`]).connected;

    // GitLab-, Tomcat- and file-name-like parts, each with the forms it holds (labelled by hand,
    // so the expectation does not come from the predicate under test).
    const part = fc.constantFrom<[string, AmbiguousPathForm[]]>(
      ["/api/v4/projects/group%2Fproject", ["encoded_slash"]],
      ["/repository/files/dir%2fa.txt", ["encoded_slash"]],
      ["/100%25%2F", ["encoded_slash"]],
      ["/app;jsessionid=0123", ["semicolon"]],
      ["/page;v=2;w", ["semicolon"]],
      ["/win%5Cpath", ["encoded_backslash"]],
      ["/name%252Fwith%25252fpercent", ["double_encoded"]],
      ["/%252E%252E", ["double_encoded"]],
      ["/dir%2F..%5C;x", ["encoded_slash", "encoded_backslash", "semicolon"]],
      ["/plain", []],
      ["/%61dmin/./x/..", []],
      ["//twice", []],
    );
    const target = fc.tuple(
      fc.array(part, { minLength: 1, maxLength: 4 }),
      fc.constantFrom("", "?next=%2Fa;b", "?q=%5C%252F"),
    );
    const forms = fc.subarray([...AMBIGUOUS_PATH_FORMS]);
    const transport = fc.constantFrom("h1", "h2", "ws");
    const passed = { h1: 0, h2: 0, ws: 0 };
    const withForms = { passed: 0, refused: 0 };
    await fc.assert(
      fc.asyncProperty(target, forms, transport, async ([parts, query], allowed, via) => {
        const sent = parts.map(([text]) => text).join("") + query;
        const held = new Set(parts.flatMap(([, held]) => held));
        await putForwardAuth(gateway, auth.url, allowed);
        const [toldBefore, seenBefore] = [told.length, seen.length];
        const status =
          via === "ws"
            ? await upgrade(gateway.port, sent)
            : (await visit(gateway.port, DOMAIN, sent, { http2: via === "h2" })).status;
        const what = `${sent} allowing [${allowed.join()}] over ${via}: ${status}`;
        const normalized = normalizePathAndQuery(sent);
        assert.ok(normalized.ok, what);
        if ([...held].some((form) => !allowed.includes(form))) {
          withForms.refused += 1;
          assert.equal(status, 400, what);
          assert.deepEqual(told.slice(toldBefore), [], `the auth service was asked: ${what}`);
          assert.deepEqual(seen.slice(seenBefore), [], `the backend was reached: ${what}`);
          return;
        }
        passed[via] += 1;
        if (held.size > 0) withForms.passed += 1;
        assert.equal(status, via === "ws" ? 101 : 200, what);
        // The one path the service judged is the one the backend served: byte for byte.
        assert.deepEqual(told.slice(toldBefore), [normalized.path], `told: ${what}`);
        assert.deepEqual(seen.slice(seenBefore), [normalized.path], `received: ${what}`);
      }),
      { numRuns: 150 },
    );
    // Both sides reached, on every transport, with forms in the path that passed.
    const counts = JSON.stringify({ passed, withForms });
    assert.ok(
      Object.values(passed).every((n) => n >= 3),
      counts,
    );
    assert.ok(withForms.passed >= 10 && withForms.refused >= 20, counts);
  });
});

/** Sets DOMAIN's policy to forward auth at `authUrl` letting `forms` through. */
async function putForwardAuth(gateway: Gateway, authUrl: string, forms: readonly string[]): Promise<void> {
  const put = await visit(gateway.port, "gateway.test", `/api/v1/admin/domains/${DOMAIN}/access`, {
    method: "PUT",
    headers: { authorization: `Bearer ${ADMIN_KEY}`, "content-type": "application/json" },
    body: JSON.stringify({ forward_auth: { url: `${authUrl}/verify`, allow_ambiguous_paths: forms } }),
  });
  assert.equal(put.status, 200, put.body.toString());
}
