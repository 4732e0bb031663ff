import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { loadConfig } from "../../src/config/load-config.js";
import { serverSettings, type ServerConfig } from "../../src/config/server-settings.js";
import type { PebbleSetup } from "./pebble.js";

export const ACME_MAIN_DOMAIN = "gateway.example.test";

/**
 * The configuration of an in-process `hopgate server` ordering from `pebble`: ACME on the main
 * domain, TLS on a free port, plain HTTP on `httpPort`, no metrics listener, store in `dir`
 * (unless `flags` name HOP_DB_DSN). `flags` add to or override these (CLI flag names).
 */
export async function acmeServerConfig(
  pebble: PebbleSetup,
  dir: string,
  httpPort: number,
  flags: Record<string, string> = {},
): Promise<ServerConfig> {
  const caFile = join(dir, "pebble-listener.pem");
  await writeFile(caFile, pebble.listenerCaPem);
  return loadConfig(serverSettings, {
    env: {},
    dotenvDir: null,
    flags: {
      domain: ACME_MAIN_DOMAIN,
      httpsListen: "127.0.0.1:0",
      httpListen: `127.0.0.1:${httpPort}`,
      metricsListen: "off",
      dataDir: join(dir, "data"),
      tls: "acme",
      acmeCaDir: pebble.directoryUrl,
      acmeDirectoryCaFile: caFile,
      acmeEmail: "ops@example.test",
      ...flags,
    },
  });
}
