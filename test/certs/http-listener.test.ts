import assert from "node:assert/strict";
import { connect } from "node:net";
import { describe, it, type TestContext } from "node:test";
import { silentLogger } from "../../src/lib/logger.js";
import type { VisitorRejectionReason } from "../../src/server/edge/client-error.js";
import { createHttpListener, type ChallengeResponder } from "../../src/server/http/http-listener.js";

const TOKEN = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA";
const KEY_AUTHORIZATION = `${TOKEN}.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI`;

/** A real challenge table that also records every token it was asked for. */
function recordingChallenges(): ChallengeResponder & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    keyAuthorizationFor(token) {
      asked.push(token);
      return token === TOKEN ? KEY_AUTHORIZATION : undefined;
    },
  };
}

async function startListener(
  t: TestContext,
  options: {
    httpsPort?: number;
    plainHttpProxy?: Parameters<typeof createHttpListener>[0]["plainHttpProxy"];
    onRejected?: (reason: VisitorRejectionReason) => void;
  } = {},
) {
  const challenges = recordingChallenges();
  const listener = createHttpListener({
    httpsPort: options.httpsPort ?? 443,
    challenges,
    logger: silentLogger(),
    onRejected: options.onRejected,
    ...(options.plainHttpProxy ? { plainHttpProxy: options.plainHttpProxy } : {}),
  });
  const port = await listener.listen({ host: "127.0.0.1", port: 0 });
  t.after(() => listener.close());
  return { port, challenges };
}

interface RawResponse {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/** Sends `head` byte for byte (no client-side normalization of paths or Host) and reads the reply. */
function rawRequest(port: number, head: string): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    let data = "";
    socket.setEncoding("latin1");
    socket.on("data", (chunk: string) => (data += chunk));
    socket.on("error", reject);
    socket.on("end", () => {
      const [headText = "", body = ""] = data.split("\r\n\r\n", 2);
      const [statusLine = "", ...lines] = headText.split("\r\n");
      const headers: Record<string, string> = {};
      for (const line of lines) {
        const colon = line.indexOf(":");
        headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
      }
      resolve({ status: Number(statusLine.split(" ")[1]), headers, body });
    });
    socket.write(
      head.includes("Connection:") ? head : head.replace(/\r\n\r\n$/, "\r\nConnection: close\r\n\r\n"),
    );
  });
}

const get = (path: string, host = "app.example.com", method = "GET") =>
  `${method} ${path} HTTP/1.1\r\nHost: ${host}\r\n\r\n`;

describe("HTTP listener", () => {
  it("answers a pending HTTP-01 challenge with its key authorization", async (t) => {
    const { port } = await startListener(t);
    const response = await rawRequest(port, get(`/.well-known/acme-challenge/${TOKEN}`));
    assert.equal(response.status, 200);
    assert.equal(response.body, KEY_AUTHORIZATION);
    assert.match(response.headers["content-type"] ?? "", /^text\/plain/);
    const head = await rawRequest(
      port,
      get(`/.well-known/acme-challenge/${TOKEN}`, "app.example.com", "HEAD"),
    );
    assert.equal(head.status, 200);
    assert.equal(head.body, "");
  });

  it("answers 404 for an unknown token and 405 for other methods", async (t) => {
    const { port } = await startListener(t);
    assert.equal((await rawRequest(port, get("/.well-known/acme-challenge/unknown-token"))).status, 404);
    assert.equal((await rawRequest(port, get("/.well-known/acme-challenge/"))).status, 404);
    const post = await rawRequest(
      port,
      get(`/.well-known/acme-challenge/${TOKEN}`, "app.example.com", "POST"),
    );
    assert.equal(post.status, 405);
    assert.equal(post.headers.allow, "GET, HEAD");
  });

  const traversals = [
    "/.well-known/acme-challenge/../../../etc/passwd",
    "/.well-known/acme-challenge/..%2f..%2fetc%2fpasswd",
    `/.well-known/acme-challenge/${TOKEN}/../${TOKEN}`,
    `/.well-known/acme-challenge/./${TOKEN}`,
    "/.well-known/acme-challenge/%2e%2e/package.json",
    `/.well-known/acme-challenge/${TOKEN}%00`,
  ];
  it("never looks up anything but a well-formed token (path traversal does nothing)", async (t) => {
    const { port, challenges } = await startListener(t);
    for (const path of traversals) {
      const response = await rawRequest(port, get(path));
      assert.equal(response.status, 404, path);
      assert.doesNotMatch(response.body, /root:|KEY|"name"/, path);
    }
    assert.deepEqual(challenges.asked, [], "no malformed token reached the table");
  });

  const redirects: Array<[string, number, string, string, string]> = [
    [
      "path and query kept",
      443,
      "app.example.com",
      "/a/b?x=1&y=%20",
      "https://app.example.com/a/b?x=1&y=%20",
    ],
    ["the HTTPS port appended", 8443, "app.example.com:8080", "/p?q", "https://app.example.com:8443/p?q"],
    ["host lowercased, trailing dot dropped", 443, "App.Example.COM.", "/", "https://app.example.com/"],
    ["an IPv4 host", 8443, "127.0.0.1:80", "/x", "https://127.0.0.1:8443/x"],
    ["an IPv6 host", 8443, "[::1]:80", "/x", "https://[::1]:8443/x"],
    [
      "a path that looks like an authority",
      443,
      "app.example.com",
      "//evil.example/x",
      "https://app.example.com//evil.example/x",
    ],
    [
      "absolute-form wins over Host",
      443,
      "ignored.example",
      "http://other.example/p?q=1",
      "https://other.example/p?q=1",
    ],
  ];
  for (const [name, httpsPort, host, target, location] of redirects) {
    it(`redirects with 308 to https: ${name}`, async (t) => {
      const { port } = await startListener(t, { httpsPort });
      const response = await rawRequest(port, get(target, host));
      assert.equal(response.status, 308);
      assert.equal(response.headers.location, location);
    });
  }

  it("redirects every method with 308 (which keeps method and body)", async (t) => {
    const { port } = await startListener(t);
    const response = await rawRequest(
      port,
      "POST /form HTTP/1.1\r\nHost: app.example.com\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc",
    );
    assert.equal(response.status, 308);
    assert.equal(response.headers.location, "https://app.example.com/form");
  });

  const badHosts = [
    "",
    "evil.example/path",
    "user@evil.example",
    "exa mple.com",
    "bad_label.example",
    "[::1",
    "host:99999",
  ];
  it("answers 400 to a request without a valid Host", async (t) => {
    const { port } = await startListener(t);
    const noHost = await rawRequest(port, "GET / HTTP/1.0\r\n\r\n");
    assert.equal(noHost.status, 400);
    for (const host of badHosts) {
      const response = await rawRequest(port, get("/x", host));
      assert.equal(response.status, 400, JSON.stringify(host));
      assert.equal(response.headers.location, undefined);
    }
    assert.equal((await rawRequest(port, "OPTIONS * HTTP/1.1\r\nHost: app.example.com\r\n\r\n")).status, 400);
  });

  it("answers what the HTTP/1.1 parser refuses as node does, and reports each refusal", async (t) => {
    const rejected: VisitorRejectionReason[] = [];
    const { port, challenges } = await startListener(t, { onRejected: (reason) => rejected.push(reason) });
    const cases: Array<[string, string, number, VisitorRejectionReason]> = [
      [
        "a header line without a colon",
        "GET / HTTP/1.1\r\nHost: app.example.com\r\nBad Header\r\n\r\n",
        400,
        "malformed",
      ],
      ["an unknown HTTP version", "GET / HTTP/9.9\r\nHost: app.example.com\r\n\r\n", 400, "malformed"],
      [
        "Content-Length with Transfer-Encoding",
        "POST / HTTP/1.1\r\nHost: app.example.com\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
        400,
        "framing",
      ],
      [
        "a head over 16 KiB",
        `GET / HTTP/1.1\r\nHost: app.example.com\r\nX-Pad: ${"a".repeat(17_000)}\r\n\r\n`,
        431,
        "header_too_large",
      ],
    ];
    for (const [label, head, status, reason] of cases) {
      const from = rejected.length;
      const response = await rawRequest(port, head);
      assert.equal(response.status, status, label);
      assert.equal(response.headers.connection, "close", label);
      assert.deepEqual(rejected.slice(from), [reason], label);
    }
    assert.deepEqual(challenges.asked, []);
  });

  it("hands plain requests to the development proxy instead of redirecting, challenges still first", async (t) => {
    const seen: string[] = [];
    const { port } = await startListener(t, {
      plainHttpProxy: (req, res) => {
        seen.push(`${req.headers.host}${req.url}`);
        res.end("proxied");
      },
    });
    const proxied = await rawRequest(port, get("/page?x=1"));
    assert.equal(proxied.status, 200);
    assert.equal(proxied.body, "proxied");
    assert.deepEqual(seen, ["app.example.com/page?x=1"]);
    const challenge = await rawRequest(port, get(`/.well-known/acme-challenge/${TOKEN}`));
    assert.equal(challenge.body, KEY_AUTHORIZATION);
    assert.equal(seen.length, 1);
  });

  it("hands the development proxy the normalized origin-form target, and answers 400 to a malformed one", async (t) => {
    const seen: string[] = [];
    const rejected: VisitorRejectionReason[] = [];
    const { port } = await startListener(t, {
      plainHttpProxy: (req, res) => {
        seen.push(`${req.headers.host}${req.url}`);
        res.end("proxied");
      },
      onRejected: (reason) => rejected.push(reason),
    });
    for (const target of ["/api/../x?q=/../", "/%61pi", "http://other.example.com/a/./b"]) {
      assert.equal((await rawRequest(port, get(target))).status, 200, target);
    }
    for (const target of ["/a%zz", "http://user@app.example.com/x"]) {
      assert.equal((await rawRequest(port, get(target))).status, 400, target);
    }
    assert.deepEqual(seen, ["app.example.com/x?q=/../", "app.example.com/api", "other.example.com/a/b"]);
    assert.deepEqual(rejected, ["malformed", "malformed"]);
  });
});
