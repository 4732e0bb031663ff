import { createServer } from "node:net";

/**
 * A port that was free a moment ago on 127.0.0.1, for programs that cannot be told to take
 * port 0 and report back (pebble's config file). Our own servers listen on port 0 instead.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
