import { once } from "node:events";
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { TestContext } from "node:test";

export type BackendHandler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

export interface Backend {
  readonly server: http.Server;
  readonly port: number;
  readonly url: string;
}

/** A plain Node HTTP server on 127.0.0.1 and a free port standing for a private service. */
export async function startBackend(t: TestContext, handler: BackendHandler): Promise<Backend> {
  const server = http.createServer(handler);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  t.after(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const port = (server.address() as AddressInfo).port;
  return { server, port, url: `http://127.0.0.1:${port}` };
}

/** Responds with what the backend saw: method, URL, headers (raw pairs) and body digest. */
export const echoHandler: BackendHandler = (req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (chunk: Buffer) => chunks.push(chunk));
  req.on("end", () => {
    const body = Buffer.concat(chunks);
    res.writeHead(200, { "content-type": "application/json" });
    res.end(
      JSON.stringify({
        method: req.method,
        url: req.url,
        rawHeaders: req.rawHeaders,
        bodyLength: body.length,
        body: body.toString("utf8", 0, 256),
      }),
    );
  });
};

export interface Echo {
  readonly method: string;
  readonly url: string;
  readonly rawHeaders: string[];
  readonly bodyLength: number;
  readonly body: string;
}

/** Values of header `name` (any case) in an echo's raw headers, in order. */
export function echoed(echo: Echo, name: string): string[] {
  const values: string[] = [];
  for (let i = 0; i < echo.rawHeaders.length; i += 2) {
    if (echo.rawHeaders[i]?.toLowerCase() === name) values.push(echo.rawHeaders[i + 1] ?? "");
  }
  return values;
}
