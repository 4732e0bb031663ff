import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { TestContext } from "node:test";

export interface LokiPush {
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly streams: Array<{ stream: Record<string, string>; values: Array<[string, string]> }>;
}

export interface LokiReceiver {
  readonly url: string;
  readonly port: number;
  readonly pushes: LokiPush[];
  /** Every pushed line, parsed as JSON, in arrival order. */
  lines(): Array<Record<string, unknown>>;
  /** Status to answer the next pushes with (200 by default is 204, as Loki does). */
  respondWith(status: number): void;
  /** Resolves once at least `count` lines have arrived (polls; rejects after `timeoutMs`). */
  waitForLines(count: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

/**
 * A stand-in for Loki's push API on a free port: records every push (path, headers, streams).
 * Closed by `t.after`, also when the test fails.
 */
export async function startLokiReceiver(t: TestContext, port = 0): Promise<LokiReceiver> {
  const pushes: LokiPush[] = [];
  let status = 204;
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      if (status < 300) {
        const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as Pick<LokiPush, "streams">;
        pushes.push({ path: request.url ?? "", headers: request.headers, streams: body.streams });
      }
      response.writeHead(status, { "content-type": "text/plain" });
      response.end(status < 300 ? "" : `error ${status}`);
    });
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  const bound = (server.address() as AddressInfo).port;
  let closed: Promise<void> | undefined;
  const close = () =>
    (closed ??= new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }));
  t.after(close);
  const lines = () =>
    pushes.flatMap((push) =>
      push.streams.flatMap((stream) =>
        stream.values.map(([, line]) => JSON.parse(line) as Record<string, unknown>),
      ),
    );
  return {
    url: `http://127.0.0.1:${bound}`,
    port: bound,
    pushes,
    lines,
    respondWith: (next) => void (status = next),
    async waitForLines(count, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      while (lines().length < count) {
        if (Date.now() > deadline)
          throw new Error(`only ${lines().length} of ${count} lines reached the receiver`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
    close,
  };
}
