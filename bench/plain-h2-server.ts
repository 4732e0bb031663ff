// The memory reference of `npm run bench -- --memory-only`: a plain Node.js HTTP/2 TLS server
// with the benchmark's certificate and nothing else, in its own process. It answers nothing:
// every stream opened on it stays open, as a tunnel's call does. Node built-ins only (it runs as
// plain JavaScript, bench/plain-script.ts). Usage: plain-h2-server.mjs <dir with cert.pem and
// key.pem>; prints `{"port": N}` once listening.
import { readFileSync } from "node:fs";
import http2 from "node:http2";
import { join } from "node:path";

const dir = process.argv[2] ?? ".";
const server = http2.createSecureServer({
  cert: readFileSync(join(dir, "cert.pem")),
  key: readFileSync(join(dir, "key.pem")),
});
server.on("stream", () => undefined);
server.listen(0, "127.0.0.1", () => {
  const address = server.address();
  process.stdout.write(
    `${JSON.stringify({ port: typeof address === "object" && address ? address.port : 0 })}\n`,
  );
});
process.on("SIGTERM", () => process.exit(0));
