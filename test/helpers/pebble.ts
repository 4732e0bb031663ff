import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { request } from "node:https";
import { join } from "node:path";
import { promisify } from "node:util";
import { startDnsResponder, type DnsResponder } from "./dns-responder.js";
import { freePort, holdPort, type PortHold } from "./free-port.js";

export interface PebbleOptions {
  /** Port of OUR HTTP listener: pebble validates HTTP-01 challenges there. */
  readonly httpPort: number;
  /** Names pebble refuses to order for (its `domainBlocklist`). */
  readonly blockedDomains?: readonly string[];
  /** Lifetime of issued certificates (pebble's default is 5 years). */
  readonly certificateValiditySeconds?: number;
}

/** A prepared, not yet running pebble: its address, TLS trust and DNS are fixed already. */
export interface PebbleSetup {
  readonly directoryUrl: string;
  /** Certificate of pebble's own HTTPS listener: trust it for the ACME client only. */
  readonly listenerCaPem: string;
  readonly dns: DnsResponder;
  /** Starts pebble (again) on the prepared ports; resolves once its directory answers. */
  start(): Promise<RunningPebble>;
}

export interface RunningPebble {
  /** The root of the chains pebble issues (management `/roots/0`; new at every pebble start). */
  rootPem(): Promise<string>;
  /** Orders pebble received since this start (its log line "Added order"), whatever their fate. */
  ordersAdded(): number;
  stop(): Promise<void>;
}

/** Registers clean-up work, e.g. `(fn) => t.after(fn)`. */
export type Cleanup = (fn: () => unknown) => void;

const run = promisify(execFile);
const READY_TIMEOUT_MS = 30_000;

/**
 * Debian's pebble on free ports with its own openssl-made EC P-256 certificate, its DNS pointed
 * at an in-test responder (every name is 127.0.0.1), no validation sleep and no nonce rejection.
 * Every process, socket and file is released by `cleanup` (e.g. `(fn) => t.after(fn)`).
 */
export async function preparePebble(cleanup: Cleanup, options: PebbleOptions): Promise<PebbleSetup> {
  const dir = await mkdtemp(join(tmpdir(), "hopgate-pebble-"));
  cleanup(() => rm(dir, { recursive: true, force: true }));
  const [certFile, keyFile, configFile] = ["cert.pem", "key.pem", "pebble-config.json"].map((name) =>
    join(dir, name),
  );
  await run("openssl", [
    ...["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2"],
    ...["-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
    ...["-keyout", keyFile!, "-out", certFile!],
  ]);
  const dns = await startDnsResponder(cleanup);
  // pebble's own listeners stay bound by us until it starts (and again while it is stopped):
  // another test file's server could take a port that is merely free (CI: "address already in use").
  let holds: PortHold[] = [await holdPort(), await holdPort()];
  const [acmePort, managementPort] = holds.map((hold) => hold.port) as [number, number];
  const releaseHolds = () => Promise.all(holds.map((hold) => hold.release()));
  cleanup(releaseHolds);
  const tlsPort = await freePort();
  const config = {
    pebble: {
      listenAddress: `127.0.0.1:${acmePort}`,
      managementListenAddress: `127.0.0.1:${managementPort}`,
      certificate: certFile,
      privateKey: keyFile,
      httpPort: options.httpPort,
      tlsPort,
      ocspResponderURL: "",
      externalAccountBindingRequired: false,
      domainBlocklist: options.blockedDomains ?? [],
      ...(options.certificateValiditySeconds
        ? { certificateValidityPeriod: options.certificateValiditySeconds }
        : {}),
    },
  };
  await writeFile(configFile!, JSON.stringify(config, null, 2));
  const listenerCaPem = await readFile(certFile!, "utf8");
  const directoryUrl = `https://127.0.0.1:${acmePort}/dir`;
  return {
    directoryUrl,
    listenerCaPem,
    dns,
    async start() {
      await releaseHolds();
      const child = spawn("pebble", ["-config", configFile!, "-dnsserver", `127.0.0.1:${dns.port}`], {
        env: { ...process.env, PEBBLE_VA_NOSLEEP: "1", PEBBLE_WFE_NONCEREJECT: "0" },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let output = "";
      let ordersAdded = 0;
      const collector = () => {
        let partialLine = "";
        return (chunk: Buffer) => {
          output = (output + chunk.toString()).slice(-8_000);
          const lines = (partialLine + chunk.toString()).split("\n");
          partialLine = lines.pop() ?? "";
          ordersAdded += lines.filter((line) => line.includes("Added order")).length;
        };
      };
      child.stdout?.on("data", collector());
      child.stderr?.on("data", collector());
      const stop = () => stopProcess(child);
      cleanup(stop);
      await waitUntilAnswering(directoryUrl, listenerCaPem, child, () => output);
      const managementUrl = `https://127.0.0.1:${managementPort}/roots/0`;
      return {
        rootPem: () => httpsGet(managementUrl, listenerCaPem).then((r) => r.body),
        ordersAdded: () => ordersAdded,
        // Stopped by the test, its ports are held again for a later start (best effort: one taken
        // meanwhile makes that start fail with pebble's "address already in use", as before).
        async stop() {
          await stop();
          const held = await Promise.all(
            [acmePort, managementPort].map((port) => holdPort(port).catch(() => undefined)),
          );
          holds = held.filter((hold): hold is PortHold => hold !== undefined);
        },
      };
    },
  };
}

export async function startPebble(
  cleanup: Cleanup,
  options: PebbleOptions,
): Promise<PebbleSetup & RunningPebble> {
  const setup = await preparePebble(cleanup, options);
  const running = await setup.start();
  return { ...setup, ...running };
}

async function waitUntilAnswering(url: string, caPem: string, child: ChildProcess, output: () => string) {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`pebble exited with ${child.exitCode}: ${output()}`);
    try {
      if ((await httpsGet(url, caPem)).status === 200) return;
    } catch (error) {
      if (Date.now() > deadline)
        throw new Error(`pebble did not answer at ${url}: ${output()}`, { cause: error });
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export function httpsGet(url: string, caPem: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca: caPem, agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8").on("data", (chunk: string) => (body += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}

function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once("exit", () => resolve());
    child.kill("SIGTERM");
  });
}
