import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { stringify } from "yaml";

export interface PrometheusServer {
  readonly url: string;
  /** Everything Prometheus wrote to stderr so far (its log), for failure messages. */
  log(): string;
  /** GET an API path and return its `data` (throws on a non-success answer). */
  api<T>(path: string): Promise<T>;
}

/**
 * Starts Debian's /usr/bin/prometheus on a free loopback port with `config` (a Prometheus config
 * object) and a temporary storage directory; `t.after` stops it and removes the directory.
 */
export async function startPrometheus(t: TestContext, config: unknown): Promise<PrometheusServer> {
  const dir = await mkdtemp(join(tmpdir(), "hopgate-prometheus-"));
  const running: { child?: ChildProcess } = {};
  t.after(async () => {
    await stop(running.child);
    await rm(dir, { recursive: true, force: true });
  });
  const configFile = join(dir, "prometheus.yml");
  await writeFile(configFile, stringify(config));
  const port = await freePort();
  let stderr = "";
  const child = spawn(
    "prometheus",
    [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${join(dir, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  running.child = child;
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const url = `http://127.0.0.1:${port}`;
  await waitUntil(
    async () => (await fetch(`${url}/-/ready`)).ok,
    60_000,
    () => `not ready:\n${stderr}`,
  );
  return {
    url,
    log: () => stderr,
    async api<T>(path: string) {
      const response = await fetch(`${url}${path}`);
      const body = (await response.json()) as { status: string; data: T; error?: string };
      if (body.status !== "success") throw new Error(`${path}: ${body.error}`);
      return body.data;
    },
  };
}

/** Polls `condition` (errors count as "not yet") until it holds or `timeoutMs` passes. */
export async function waitUntil(
  condition: () => Promise<boolean>,
  timeoutMs: number,
  describe: () => string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await condition()) return;
    } catch (error) {
      if (Date.now() > deadline) throw new Error(describe(), { cause: error });
    }
    if (Date.now() > deadline) throw new Error(describe());
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function stop(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(timer);
}
