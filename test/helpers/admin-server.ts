import { createServer, type Server } from "node:http";
import { createSecureServer } from "node:http2";
import type { AddressInfo } from "node:net";
import type { AdminApi } from "../../src/server/admin/admin-api.js";
import { selfSignedCertificate } from "./self-signed-cert.js";
import type { Cleanup } from "./store-backends.js";

export interface AdminListener {
  /** Base URL of the admin API, e.g. http://127.0.0.1:PORT/api/v1/admin */
  readonly url: string;
  /** CA of the listener's certificate (TLS listeners only). */
  readonly ca?: string;
}

/** `http.createServer(adminApi.handle)` on 127.0.0.1, port 0; closed by `cleanup`. */
export async function startPlainAdminListener(
  api: Pick<AdminApi, "handle">,
  cleanup: Cleanup,
): Promise<AdminListener> {
  const server = createServer(api.handle);
  const port = await listen(server, cleanup);
  return { url: `http://127.0.0.1:${port}/api/v1/admin` };
}

/** An HTTP/2 TLS server with HTTP/1.1 fallback, as the server's single listener will be. */
export async function startTlsAdminListener(api: AdminApi, cleanup: Cleanup): Promise<AdminListener> {
  const { cert, key } = await selfSignedCertificate();
  const server = createSecureServer({ cert, key, allowHTTP1: true }, api.handle);
  const port = await listen(server, cleanup);
  return { url: `https://127.0.0.1:${port}/api/v1/admin`, ca: cert };
}

async function listen(
  server: Server | ReturnType<typeof createSecureServer>,
  cleanup: Cleanup,
): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  cleanup(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        if ("closeAllConnections" in server) server.closeAllConnections();
      }),
  );
  return (server.address() as AddressInfo).port;
}
