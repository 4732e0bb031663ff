// The benchmark's Node.js reference (variants node-h1 and node-h2): the cheapest one-hop TLS
// reverse proxy Node's built-ins make, in its own process. No tunnel, no routing, no logging:
// what every Node.js gateway pays at least for TLS, HTTP/1.1 or HTTP/2 parsing and one
// keep-alive HTTP/1.1 hop to the backend. Node built-ins only (it runs as plain JavaScript,
// bench/plain-script.ts). Usage: node-proxy.mjs <dir with cert.pem and key.pem> <backend port>;
// prints `{"port": N}` once listening.
import { readFileSync } from "node:fs";
import http, { type IncomingHttpHeaders, type OutgoingHttpHeaders } from "node:http";
import http2 from "node:http2";
import { join } from "node:path";

const MiB = 1024 * 1024;
const [dir = ".", backendPort = "0"] = process.argv.slice(2);

// RFC 9110 §7.6.1: hop-by-hop headers, and those the Connection header lists, are not forwarded.
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "te",
  "trailer",
  "upgrade",
  "http2-settings",
]);

const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });

const server = http2.createSecureServer(
  {
    allowHTTP1: true,
    cert: readFileSync(join(dir, "cert.pem")),
    key: readFileSync(join(dir, "key.pem")),
    // Windows for bulk transfers, as a download-heavy Node.js gateway would set them.
    settings: { initialWindowSize: MiB },
  },
  // Typed as HTTP/2; over HTTP/1.1 they are http's IncomingMessage and ServerResponse, whose
  // members used here are the same.
  (req, res) => {
    const headers = endToEnd(req.headers);
    headers.host = req.headers.host ?? req.authority;
    const upstream = http.request(
      { host: "127.0.0.1", port: Number(backendPort), method: req.method, path: req.url, headers, agent },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, endToEnd(answer.headers));
        answer.pipe(res);
      },
    );
    upstream.on("error", () => {
      if (res.headersSent) res.destroy();
      else res.writeHead(502).end();
    });
    // A visitor gone before the answer ended: the backend request goes too.
    res.on("close", () => {
      if (!res.writableFinished) upstream.destroy();
    });
    req.pipe(upstream);
  },
);
server.on("session", (session: http2.ServerHttp2Session) => session.setLocalWindowSize(8 * MiB));
server.listen(0, "127.0.0.1", () => {
  const address = server.address();
  process.stdout.write(
    `${JSON.stringify({ port: typeof address === "object" && address ? address.port : 0 })}\n`,
  );
});
process.on("SIGTERM", () => process.exit(0));

/** `headers` without HTTP/2 pseudo-headers and hop-by-hop headers. */
function endToEnd(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const listed = new Set(
    String(headers.connection ?? "")
      .split(",")
      .map((name) => name.trim().toLowerCase()),
  );
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (name.startsWith(":") || HOP_BY_HOP.has(name) || listed.has(name)) continue;
    out[name] = value;
  }
  return out;
}
