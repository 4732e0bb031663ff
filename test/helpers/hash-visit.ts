import { createHash } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";
import https from "node:https";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { tlsFixture } from "./tls-fixture.js";

export interface HashedVisit {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly length: number;
  readonly sha256: string;
  /** The first 4 KiB of the body as text (for small JSON answers). */
  readonly text: string;
}

/** An HTTP/1.1 visit whose body (sent and received) is streamed and hashed, never held whole. */
export function hashedVisit(
  port: number,
  host: string,
  path: string,
  options: {
    method?: string;
    body?: Iterable<Buffer> | AsyncIterable<Buffer>;
    headers?: Record<string, string>;
  } = {},
): Promise<HashedVisit> {
  return new Promise((resolve, reject) => {
    const req = https.request({
      host: "127.0.0.1",
      port,
      path,
      method: options.method ?? "GET",
      servername: host,
      headers: { host, ...options.headers },
      ca: tlsFixture().cert,
      agent: false,
    });
    req.on("error", reject);
    req.on("response", (res) => {
      const hash = createHash("sha256");
      let length = 0;
      let text = "";
      res.on("data", (chunk: Buffer) => {
        hash.update(chunk);
        length += chunk.length;
        if (text.length < 4096) text += chunk.toString("utf8", 0, Math.min(chunk.length, 4096));
      });
      res.on("error", reject);
      res.on("aborted", () => reject(new Error("response aborted")));
      res.on("end", () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          length,
          sha256: hash.digest("hex"),
          text,
        }),
      );
    });
    if (options.body) pipeline(Readable.from(options.body), req).catch(reject);
    else req.end();
  });
}
