import { once } from "node:events";
import http from "node:http";
import type { AddressInfo } from "node:net";

/**
 * The "private service" of `hopgate demo`: a page that shows what arrived through the tunnel,
 * a JSON echo at /echo and a Server-Sent Events clock at /events.
 */
export async function startDemoBackend(): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    if (req.url === "/events") {
      res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
      const timer = setInterval(() => res.write(`data: ${new Date().toISOString()}\n\n`), 1000);
      res.on("close", () => clearInterval(timer));
      return;
    }
    const seen = {
      message: "Hello from a service in your private network, reached through HopGate.",
      method: req.method,
      url: req.url,
      host: req.headers.host,
      forwardedFor: req.headers["x-forwarded-for"],
      requestId: req.headers["x-request-id"],
    };
    res.writeHead(200, { "content-type": "application/json; charset=utf-8" });
    res.end(`${JSON.stringify(seen, null, 2)}\n`);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
