import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import https from "node:https";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { tlsFixture } from "../test/helpers/tls-fixture.js";
import { plainScriptArgs } from "./plain-script.js";
import { removeOnStop, startProcess, type BenchProcess } from "./processes.js";

export const MAIN_DOMAIN = "gateway.test";
export const TENANT = "bench.test";
export const ADMIN_KEY = "bench-admin-key-0123456789";

export interface Stack {
  readonly dir: string;
  readonly backend: BenchProcess;
  readonly backendPort: number;
  readonly server: BenchProcess;
  readonly client: BenchProcess;
  readonly httpsPort: number;
  /** The server's /metrics listener. */
  readonly metricsPort: number;
  readonly clientKey: string;
  readonly nginx: { readonly process: BenchProcess; readonly port: number } | undefined;
  /** bench/node-proxy.ts: the cheapest one-hop Node.js reverse proxy, the Node.js reference. */
  readonly nodeProxy: { readonly process: BenchProcess; readonly port: number };
}

/**
 * Backend, HopGate server and client (the compiled CLI `cli`, run with `nodeFlags` as the product
 * runs), nginx as a TLS reverse proxy when it is installed, and bench/node-proxy.ts (with the
 * same `nodeFlags`). `serverEnv`: more environment for the server alone (e.g. LD_PRELOAD, malloc
 * settings). Every process is tracked by processes.ts and killed by its stopAll().
 */
export async function startStack(
  cli: string,
  nodeFlags: readonly string[],
  serverEnv: Readonly<Record<string, string>> = {},
): Promise<Stack> {
  const dir = removeOnStop(mkdtempSync(join(tmpdir(), "hopgate-bench-")));
  writeCerts(dir);
  const backend = startProcess("backend", process.execPath, [
    "--import",
    "tsx",
    join(import.meta.dirname, "backend.ts"),
  ]);
  const backendPort = Number((await backend.waitForLine((l) => typeof l.port === "number")).port);
  const server = startProcess("server", process.execPath, serverArgs(cli, nodeFlags, dir, "127.0.0.1:0"), {
    HOP_ADMIN_API_KEY: ADMIN_KEY,
    HOP_TUNNEL_MAX_STREAMS: "20000",
    ...serverEnv,
  });
  const listening = await server.waitForLine((l) => l.msg === "HopGate server listening");
  const httpsPort = Number(listening.https_port);
  const clientKey = await register(httpsPort);
  const client = startProcess(
    "client",
    process.execPath,
    clientArgs(cli, nodeFlags, dir, { httpsPort, domain: TENANT, apiKey: clientKey, backendPort }),
  );
  await client.waitForLine((l) => l.msg === "tunnel accepted");
  const nodeProxy = startProcess(
    "node proxy",
    process.execPath,
    plainScriptArgs("node-proxy", dir, nodeFlags, [dir, String(backendPort)]),
  );
  const nodeProxyPort = Number((await nodeProxy.waitForLine((l) => typeof l.port === "number")).port);
  return {
    dir,
    backend,
    backendPort,
    server,
    client,
    httpsPort,
    metricsPort: Number(listening.metrics_port),
    clientKey,
    nginx: await startNginx(dir, backendPort),
    nodeProxy: { process: nodeProxy, port: nodeProxyPort },
  };
}

/** Writes the test certificate and key as `dir`/cert.pem and `dir`/key.pem, for serverArgs() and clientArgs(). */
export function writeCerts(dir: string): void {
  writeFileSync(join(dir, "cert.pem"), tlsFixture().cert);
  writeFileSync(join(dir, "key.pem"), tlsFixture().key);
}

/** `hopgate server` as the benchmarks run it: TLS from writeCerts(dir), ports chosen by the system. */
export function serverArgs(
  cli: string,
  nodeFlags: readonly string[],
  dir: string,
  metricsListen: string,
): string[] {
  return [
    ...nodeFlags,
    cli,
    "server",
    ...["--domain", MAIN_DOMAIN, "--https-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0"],
    ...["--metrics-listen", metricsListen, "--tls", "files", "--tls-cert", join(dir, "cert.pem")],
    ...["--tls-key", join(dir, "key.pem"), "--data-dir", join(dir, "data")],
    // --debug only lets the tunnel be reached by IP address (127.0.0.1), as in the tests.
    "--debug",
  ];
}

/** `hopgate client` tunnelling `domain` to the backend on `backendPort`, trusting writeCerts(dir). */
export function clientArgs(
  cli: string,
  nodeFlags: readonly string[],
  dir: string,
  to: {
    readonly httpsPort: number;
    readonly domain: string;
    readonly apiKey: string;
    readonly backendPort: number;
  },
): string[] {
  return [
    ...nodeFlags,
    cli,
    "client",
    ...["--server", `https://127.0.0.1:${to.httpsPort}`, "--domain", to.domain, "--api-key", to.apiKey],
    ...["--service", `web=http://127.0.0.1:${to.backendPort}`, "--ca-file", join(dir, "cert.pem")],
  ];
}

/** Registers `domain` through the admin API of the server on `port`; its client API key. */
export async function register(port: number, domain = TENANT): Promise<string> {
  const body = JSON.stringify({ domain, memo: "benchmark" });
  const answer = await new Promise<string>((resolve, reject) => {
    const req = https.request(
      {
        host: "127.0.0.1",
        port,
        method: "POST",
        path: "/api/v1/admin/domains/register",
        servername: MAIN_DOMAIN,
        rejectUnauthorized: false,
        headers: {
          host: MAIN_DOMAIN,
          authorization: `Bearer ${ADMIN_KEY}`,
          "content-type": "application/json",
        },
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8").on("data", (chunk: string) => (text += chunk));
        res.on("end", () => resolve(text));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
  return (JSON.parse(answer) as { client_api_key: string }).client_api_key;
}

/**
 * nginx (Debian's nginx-light) as a one-hop TLS reverse proxy in front of the backend: the
 * reference, set up as a production one would be (issue 15): one worker per core, keep-alive
 * connections to the upstream, nginx's default proxy buffering (responses are read from the
 * backend as fast as it sends them, into memory and, past proxy_buffers, a temporary file),
 * sendfile and a TLS session cache.
 */
async function startNginx(dir: string, backendPort: number): Promise<Stack["nginx"]> {
  const binary = "/usr/sbin/nginx";
  if (!existsSync(binary)) return undefined;
  // A port the system has just handed out (nginx cannot be told to take port 0).
  const port = await freePort();
  const conf = join(dir, "nginx.conf");
  writeFileSync(
    conf,
    `${process.getuid?.() === 0 ? "user root;\n" : ""}worker_processes auto;
worker_rlimit_nofile 65536;
error_log ${join(dir, "nginx-error.log")} warn;
pid ${join(dir, "nginx.pid")};
events { worker_connections 20000; multi_accept on; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 100000;
  client_body_temp_path ${dir}; proxy_temp_path ${dir}; fastcgi_temp_path ${dir}; uwsgi_temp_path ${dir}; scgi_temp_path ${dir};
  upstream backend { server 127.0.0.1:${backendPort}; keepalive 64; keepalive_requests 100000; }
  server {
    listen 127.0.0.1:${port} ssl http2;
    ssl_certificate ${join(dir, "cert.pem")};
    ssl_certificate_key ${join(dir, "key.pem")};
    ssl_session_cache shared:SSL:10m;
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
    }
  }
}
`,
  );
  execFileSync(binary, ["-t", "-q", "-c", conf, "-p", dir, "-e", join(dir, "nginx-error.log")]);
  const process_ = startProcess("nginx", binary, [
    "-c",
    conf,
    "-p",
    dir,
    "-e",
    join(dir, "nginx-error.log"),
    "-g",
    "daemon off;",
  ]);
  // A reference that is not listening would fail every download: wait for it, or say why.
  if (!(await accepts(port, 5000))) {
    const log = existsSync(join(dir, "nginx-error.log"))
      ? readFileSync(join(dir, "nginx-error.log"), "utf8")
      : "";
    throw new Error(`bench: nginx does not accept connections on port ${port}\n${log}`);
  }
  return { process: process_, port };
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      probe.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

/** Whether something accepts TCP connections on 127.0.0.1:`port` within `withinMs`. */
async function accepts(port: number, withinMs: number): Promise<boolean> {
  const deadline = Date.now() + withinMs;
  while (Date.now() < deadline) {
    const connected = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, "127.0.0.1");
      socket.once("connect", () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
    if (connected) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return false;
}
