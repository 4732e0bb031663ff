import assert from "node:assert/strict";
import http from "node:http";
import { describe, it } from "node:test";
import { startBackend } from "../helpers/backend.js";
import { startGateway, startTestClient } from "../helpers/gateway.js";
import { visit } from "../helpers/visit.js";

interface Summary {
  id: number;
  domain: string;
  method: string;
  host: string;
  path: string;
  status: number | null;
  duration_ms: number | null;
  request_bytes: number;
  response_bytes: number;
  replay_of: number | null;
}
interface Body {
  kind: string;
  size: number;
  truncated?: boolean;
  text?: string;
  hex?: string;
}
interface Detail extends Summary {
  request: { headers: Array<[string, string]>; body: Body };
  response: { headers: Array<[string, string]>; body: Body };
  curl: string;
}

async function api<T>(base: string, path: string, init?: RequestInit): Promise<{ status: number; body: T }> {
  const response = await fetch(new URL(path, base), init);
  return { status: response.status, body: (await response.json()) as T };
}

/** A backend that answers JSON with a counter, binary for /bin, and echoes request bodies. */
async function startCountingBackend(t: Parameters<typeof startBackend>[0]) {
  let count = 0;
  return startBackend(t, (req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      count++;
      if (req.url === "/bin") {
        res.writeHead(200, { "content-type": "application/octet-stream" });
        return res.end(Buffer.from([0, 1, 2, 0xff, 0xfe]));
      }
      res.writeHead(201, { "content-type": "application/json", "set-cookie": "session=s3cret" });
      res.end(
        JSON.stringify({ count, method: req.method, url: req.url, got: Buffer.concat(chunks).toString() }),
      );
    });
  });
}

describe("request inspector", () => {
  it("lists requests newest first with details, masks credentials, replays with edits and streams new requests", async (t) => {
    const gateway = await startGateway(t);
    const backend = await startCountingBackend(t);
    const key = await gateway.register("inspect.example.test");
    const client = startTestClient(t, gateway, "inspect.example.test", key, [`web=${backend.url}`], {
      inspect: "127.0.0.1:0",
    });
    await client.connected;
    const base = (await client.handle).inspectorUrl;
    assert.ok(base, "the inspector is on");

    const events: string[] = [];
    const sse = await new Promise<http.IncomingMessage>((resolve, reject) =>
      http.get(new URL("/api/events", base), resolve).on("error", reject),
    );
    t.after(() => sse.destroy());
    sse.setEncoding("utf8").on("data", (chunk: string) => events.push(chunk));

    const posted = await visit(gateway.port, "inspect.example.test", "/orders?x=1", {
      method: "POST",
      headers: { authorization: "Bearer top-secret", cookie: "a=b", "content-type": "application/json" },
      body: JSON.stringify({ item: "book", qty: 2 }),
    });
    assert.equal(posted.status, 201);
    const list = await api<{ requests: Summary[] }>(base, "/api/requests");
    assert.equal(list.status, 200);
    const first = list.body.requests[0];
    assert.ok(first);
    assert.equal(first.domain, "inspect.example.test");
    assert.equal(first.method, "POST");
    assert.equal(first.path, "/orders?x=1");
    assert.equal(first.status, 201);
    assert.equal(typeof first.duration_ms, "number");
    assert.equal(first.request_bytes, Buffer.byteLength(JSON.stringify({ item: "book", qty: 2 })));

    const detail = (await api<Detail>(base, `/api/requests/${first.id}`)).body;
    const header = (pairs: Array<[string, string]>, name: string) =>
      pairs.find(([n]) => n.toLowerCase() === name)?.[1];
    assert.equal(header(detail.request.headers, "authorization"), "••••••");
    assert.equal(header(detail.request.headers, "cookie"), "••••••");
    assert.equal(header(detail.response.headers, "set-cookie"), "••••••");
    assert.doesNotMatch(JSON.stringify(detail), /top-secret|s3cret/);
    assert.equal(detail.request.body.kind, "json");
    assert.equal(detail.request.body.text, '{\n  "item": "book",\n  "qty": 2\n}');
    assert.match(detail.curl, /^curl -X POST 'https:\/\/inspect\.example\.test\/orders\?x=1' /);
    assert.match(detail.curl, /--data-binary '\{"item":"book","qty":2\}'/);
    const revealed = (await api<Detail>(base, `/api/requests/${first.id}?reveal=1`)).body;
    assert.equal(header(revealed.request.headers, "authorization"), "Bearer top-secret");

    const replayed = await api<Detail>(base, `/api/requests/${first.id}/replay`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ path: "/orders/again", body: "changed" }),
    });
    assert.equal(replayed.status, 200);
    assert.equal(replayed.body.replay_of, first.id);
    assert.equal(replayed.body.status, 201);
    const answer = JSON.parse(replayed.body.response.body.text ?? "{}") as Record<string, unknown>;
    assert.deepEqual(answer, { count: 2, method: "POST", url: "/orders/again", got: "changed" });
    const unedited = await api<Detail>(base, `/api/requests/${first.id}/replay`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    const again = JSON.parse(unedited.body.response.body.text ?? "{}") as Record<string, unknown>;
    assert.deepEqual(again, { count: 3, method: "POST", url: "/orders?x=1", got: '{"item":"book","qty":2}' });
    assert.match(events.join(""), new RegExp(`"id":${first.id},`), "the stream announced the request");

    const binary = await visit(gateway.port, "inspect.example.test", "/bin");
    assert.equal(binary.status, 200);
    const newest = (await api<{ requests: Summary[] }>(base, "/api/requests")).body.requests[0];
    const binaryDetail = (await api<Detail>(base, `/api/requests/${newest?.id}`)).body;
    assert.deepEqual(binaryDetail.response.body, {
      kind: "binary",
      size: 5,
      truncated: false,
      hex: "000102fffe",
    });
  });

  it("masks every header that looks like a credential, a policy's secret header among them, and a replay of the masked form sends the real values", async (t) => {
    const gateway = await startGateway(t);
    const backend = await startBackend(t, (req, res) => {
      res.writeHead(200, { "content-type": "application/json", "x-auth-token": "answer-tok-5e1f0c" });
      const keys = req.rawHeaders.filter((_, i) => req.rawHeaders[i - 1]?.toLowerCase() === "x-api-key");
      res.end(JSON.stringify({ token: req.headers["x-token"], keys }));
    });
    const key = await gateway.register("secrets.example.test");
    const client = startTestClient(t, gateway, "secrets.example.test", key, [`web=${backend.url}`], {
      inspect: "127.0.0.1:0",
    });
    await client.connected;
    const base = (await client.handle).inspectorUrl;
    assert.ok(base, "the inspector is on");
    const secrets = {
      "x-token": "policy-secret-9c2e4a1b",
      "x-api-key": ["api-key-77aa31", "api-key-0b5d9c"],
    };
    const sent = await visit(gateway.port, "secrets.example.test", "/", {
      headers: { ...secrets, "x-trace": "visible-trace" },
    });
    assert.equal(sent.status, 200);
    const first = (await api<{ requests: Summary[] }>(base, "/api/requests")).body.requests[0];
    assert.ok(first);
    const detail = (await api<Detail>(base, `/api/requests/${first.id}`)).body;
    const header = (pairs: Array<[string, string]>, name: string) =>
      pairs.find(([n]) => n.toLowerCase() === name)?.[1];
    assert.equal(header(detail.request.headers, "x-token"), "••••••");
    assert.equal(header(detail.request.headers, "x-api-key"), "••••••");
    assert.equal(header(detail.request.headers, "x-trace"), "visible-trace");
    assert.equal(header(detail.response.headers, "x-auth-token"), "••••••");
    const { body: _answer, ...shown } = detail.response;
    for (const secret of [...Object.values(secrets).flat(), "answer-tok-5e1f0c"])
      assert.ok(!JSON.stringify([detail.request, shown, detail.curl]).includes(secret), secret);

    // The page sends the headers back as it shows them: masked values stand for the originals,
    // the second X-Api-Key line for the second value.
    const replayed = await api<Detail>(base, `/api/requests/${first.id}/replay`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ headers: detail.request.headers }),
    });
    assert.equal(replayed.status, 200);
    assert.deepEqual(JSON.parse(replayed.body.response.body.text ?? "{}"), {
      token: secrets["x-token"],
      keys: secrets["x-api-key"],
    });
    assert.equal(header(replayed.body.request.headers, "x-token"), "••••••");
  });

  it("keeps the last N requests and the first bytes of each body", async (t) => {
    const gateway = await startGateway(t);
    const backend = await startCountingBackend(t);
    const key = await gateway.register("bounded.example.test");
    const client = startTestClient(t, gateway, "bounded.example.test", key, [`web=${backend.url}`], {
      inspect: "127.0.0.1:0",
      inspectMaxRequests: "3",
      inspectMaxBodyBytes: "10",
    });
    await client.connected;
    const base = (await client.handle).inspectorUrl ?? "";
    for (let i = 1; i <= 5; i++) {
      const response = await visit(gateway.port, "bounded.example.test", `/n${i}`, {
        method: "PUT",
        body: "x".repeat(100),
      });
      assert.equal(response.status, 201);
    }
    const list = (await api<{ requests: Summary[] }>(base, "/api/requests")).body.requests;
    assert.deepEqual(
      list.map((r) => r.path),
      ["/n5", "/n4", "/n3"],
    );
    const detail = (await api<Detail>(base, `/api/requests/${list[0]?.id}`)).body;
    assert.deepEqual(detail.request.body, { kind: "text", size: 100, truncated: true, text: "x".repeat(10) });
    assert.equal((await api<unknown>(base, `/api/requests/${(list[2]?.id ?? 0) - 1}`)).status, 404);
  });

  it("refuses foreign Host headers and replays that are not JSON", async (t) => {
    const gateway = await startGateway(t);
    const backend = await startCountingBackend(t);
    const key = await gateway.register("guard.example.test");
    const client = startTestClient(t, gateway, "guard.example.test", key, [`web=${backend.url}`], {
      inspect: "127.0.0.1:0",
    });
    await client.connected;
    const base = new URL((await client.handle).inspectorUrl ?? "");
    assert.equal((await visit(gateway.port, "guard.example.test", "/")).status, 201);
    const raw = (path: string, method: string, headers: Record<string, string>) =>
      new Promise<number>((resolve, reject) =>
        http
          .request({ host: base.hostname, port: base.port, path, method, headers }, (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          })
          .on("error", reject)
          .end(method === "POST" ? "a=b" : undefined),
      );
    assert.equal(await raw("/api/requests", "GET", { host: "attacker.example:4040" }), 403);
    assert.equal(
      await raw("/api/requests/1/replay", "POST", { "content-type": "application/x-www-form-urlencoded" }),
      415,
    );
    assert.equal(await raw("/api/requests", "GET", {}), 200);
  });
});
