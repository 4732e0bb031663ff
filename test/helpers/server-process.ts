import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { sendRequest } from "./http-request.js";
import { spawnHopgate, type HopgateProcess } from "./hopgate-process.js";
import { tlsFixture } from "./tls-fixture.js";

export const MAIN_DOMAIN = "gateway.test";
const ADMIN_API_KEY = "process-test-admin-key-0123456789";

export interface ServerProcess {
  readonly process: HopgateProcess;
  readonly httpsPort: number;
  /** The test certificate, for clients' --ca-file. */
  readonly caFile: string;
  /** The admin API key the server runs with. */
  readonly adminApiKey: string;
  /** Registers `domain` through the admin API and returns its client API key. */
  register(domain: string): Promise<string>;
}

/**
 * `hopgate server` as a real process (compiled CLI) on 127.0.0.1:0 with the embedded store in
 * `dir`/data and the test certificate. Processes sharing `dir` share the store, as two releases
 * of one deployment do.
 */
export async function startServerProcess(
  t: TestContext,
  dir: string,
  env: Record<string, string> = {},
  /** The TLS listener, when its port must be known before start (an advertise address). */
  httpsListen = "127.0.0.1:0",
  /** --debug: also answers tunnel calls and the admin API on localhost and IP hosts. */
  debug = true,
): Promise<ServerProcess> {
  const certFile = join(dir, "cert.pem");
  const keyFile = join(dir, "key.pem");
  await writeFile(certFile, tlsFixture().cert);
  await writeFile(keyFile, tlsFixture().key);
  const server = spawnHopgate(
    t,
    [
      "server",
      ...["--domain", MAIN_DOMAIN, "--https-listen", httpsListen, "--http-listen", "127.0.0.1:0"],
      ...["--metrics-listen", "off", "--tls", "files", "--tls-cert", certFile, "--tls-key", keyFile],
      ...["--data-dir", join(dir, "data"), ...(debug ? ["--debug"] : [])],
    ],
    { HOP_ADMIN_API_KEY: ADMIN_API_KEY, ...env },
  );
  const listening = await server.waitForLine((line) => line.msg === "HopGate server listening");
  const httpsPort = Number(listening.https_port);
  return {
    process: server,
    httpsPort,
    caFile: certFile,
    adminApiKey: ADMIN_API_KEY,
    register: async (domain) => {
      const answer = await sendRequest(`https://127.0.0.1:${httpsPort}/api/v1/admin/domains/register`, {
        method: "POST",
        ca: tlsFixture().cert,
        headers: {
          host: MAIN_DOMAIN,
          authorization: `Bearer ${ADMIN_API_KEY}`,
          "content-type": "application/json",
        },
        body: JSON.stringify({ domain, memo: "process test" }),
      });
      if (answer.status !== 200 && answer.status !== 201)
        throw new Error(`registering ${domain}: ${answer.status} ${answer.text}`);
      return answer.json<{ client_api_key: string }>().client_api_key;
    },
  };
}

/**
 * `hopgate client` as a real process for `domain`, with one service `web` forwarding to
 * `backendUrl`, trusting `caFile`; `extraArgs` are appended.
 */
export function startClientProcess(
  t: TestContext,
  options: {
    serverPort: number;
    caFile: string;
    domain: string;
    apiKey: string;
    backendUrl: string;
    extraArgs?: readonly string[];
  },
): HopgateProcess {
  return spawnHopgate(t, [
    "client",
    ...["--server", `https://127.0.0.1:${options.serverPort}`, "--domain", options.domain],
    ...["--api-key", options.apiKey, "--service", `web=${options.backendUrl}`],
    ...["--ca-file", options.caFile],
    ...(options.extraArgs ?? []),
  ]);
}
