import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { HEAP_PROBE_FLAGS, heapFigures, type HeapFigures } from "./heap-figure.js";
import { median } from "./measure.js";
import { removeOnStop, startProcess, type BenchProcess } from "./processes.js";
import { ADMIN_KEY, register, serverArgs, writeCerts } from "./stack.js";

/** One configuration measured: `domains` domains served by `clientProcesses` client processes. */
export interface DomainCost {
  readonly domains: number;
  readonly clientProcesses: number;
  /** The fresh server with every domain registered, before any client connected. */
  readonly serverBefore: HeapFigures;
  /** The same server with every domain's tunnel up and idle. */
  readonly serverWith: HeapFigures;
  /** Summed over the client processes, every tunnel up and idle. */
  readonly clients: HeapFigures;
}

/**
 * The per-domain cost of the client's config file (docs/performance.md): a fresh server per
 * configuration, `domains` registered, then `clientProcesses` clients (the compiled CLI `cli`
 * with `nodeFlags`) sharing the domains out, each from its own config file, over one connection
 * each. Figures 3 s after the last tunnel was accepted, after a full GC in each process.
 */
export async function measureDomainCost(
  cli: string,
  nodeFlags: readonly string[],
  domains: number,
  clientProcesses: number,
): Promise<DomainCost> {
  const dir = removeOnStop(mkdtempSync(join(tmpdir(), "hopgate-bench-domains-")));
  writeCerts(dir);
  const flags = [...nodeFlags, ...HEAP_PROBE_FLAGS];
  const server = startProcess("server", process.execPath, serverArgs(cli, flags, dir, "off"), {
    HOP_ADMIN_API_KEY: ADMIN_KEY,
  });
  const clients: BenchProcess[] = [];
  try {
    const listening = await server.waitForLine((l) => l.msg === "HopGate server listening");
    const httpsPort = Number(listening.https_port);
    const names = Array.from({ length: domains }, (_, i) => `d${i}.bench.test`);
    const keys = new Map<string, string>();
    for (const name of names) keys.set(name, await register(httpsPort, name));
    await sleep(3000);
    const serverBefore = await heapFigures(server);
    for (let c = 0; c < clientProcesses; c++) {
      const mine = names.filter((_, i) => i % clientProcesses === c);
      const file = join(dir, `client-${c}.yaml`);
      writeFileSync(file, configFile(httpsPort, join(dir, "cert.pem"), mine, keys));
      const client = startProcess(`client ${c}`, process.execPath, [
        ...flags,
        cli,
        "client",
        "--config",
        file,
      ]);
      clients.push(client);
      const waiting = new Set(mine);
      await client.waitForLine((l) => {
        if (l.msg === "tunnel accepted") waiting.delete(String(l.domain));
        return waiting.size === 0;
      }, 120_000);
    }
    await sleep(3000);
    const serverWith = await heapFigures(server);
    const each = await Promise.all(clients.map(heapFigures));
    return { domains, clientProcesses, serverBefore, serverWith, clients: sum(each) };
  } finally {
    await Promise.all(clients.map((client) => client.stop()));
    await server.stop();
  }
}

function configFile(port: number, caFile: string, names: readonly string[], keys: Map<string, string>) {
  const entries = names.map(
    (name) =>
      `  - { domain: ${name}, api_key: ${keys.get(name)}, services: [{ name: web, url: "http://127.0.0.1:9" }] }`,
  );
  return [`server: https://127.0.0.1:${port}`, `ca_file: ${caFile}`, "domains:", ...entries, ""].join("\n");
}

function sum(figures: readonly HeapFigures[]): HeapFigures {
  return {
    usedHeapBytes: figures.reduce((total, f) => total + f.usedHeapBytes, 0),
    externalBytes: figures.reduce((total, f) => total + f.externalBytes, 0),
    rssBytes: figures.reduce((total, f) => total + f.rssBytes, 0),
    codeBytes: figures.reduce((total, f) => total + f.codeBytes, 0),
  };
}

const KiB = 1024;
const MiB = 1024 * 1024;

/**
 * The table of docs/performance.md's per-domain section, medians over the rounds: for each
 * configuration the server's growth and the clients' size; then the cost of each extra domain
 * of one client (between the smallest and each larger configuration) in KiB.
 */
export function printDomainCosts(rounds: readonly DomainCost[][]): void {
  const configurations = rounds[0] ?? [];
  const med = (i: number, pick: (cost: DomainCost) => number) =>
    median(rounds.map((round) => (round[i] ? pick(round[i]) : NaN)));
  const serverRss = (c: DomainCost) => c.serverWith.rssBytes - c.serverBefore.rssBytes;
  const serverHeap = (c: DomainCost) =>
    c.serverWith.usedHeapBytes +
    c.serverWith.externalBytes -
    c.serverBefore.usedHeapBytes -
    c.serverBefore.externalBytes;
  // The same less V8's code and trusted spaces: code compiled as functions warm up is paid once
  // per process (a fresh server compiles more of it for 50 handshakes than for 1), not per domain.
  const serverData = (c: DomainCost) => serverHeap(c) - (c.serverWith.codeBytes - c.serverBefore.codeBytes);
  const clientHeap = (c: DomainCost) => c.clients.usedHeapBytes + c.clients.externalBytes;
  const clientData = (c: DomainCost) => clientHeap(c) - c.clients.codeBytes;
  const out = (line: string) => process.stdout.write(`${line}\n`);
  out(`per-domain cost, medians of ${rounds.length} round(s):`);
  out(
    "domains  client processes  server +RSS MiB  server +heap MiB  (less code)  clients RSS MiB  clients heap MiB  (less code)",
  );
  configurations.forEach((c, i) => {
    out(
      [
        String(c.domains).padEnd(8),
        String(c.clientProcesses).padEnd(16),
        (med(i, serverRss) / MiB).toFixed(2).padEnd(15),
        (med(i, serverHeap) / MiB).toFixed(2).padEnd(16),
        (med(i, serverData) / MiB).toFixed(2).padEnd(11),
        (med(i, (x) => x.clients.rssBytes) / MiB).toFixed(1).padEnd(15),
        (med(i, clientHeap) / MiB).toFixed(2).padEnd(16),
        (med(i, clientData) / MiB).toFixed(2),
      ].join("  "),
    );
  });
  const base = configurations.findIndex((c) => c.clientProcesses === 1);
  configurations.forEach((c, i) => {
    if (c.clientProcesses !== 1 || i === base || base < 0) return;
    const extra = c.domains - (configurations[base]?.domains ?? 0);
    const perDomain = (pick: (cost: DomainCost) => number) =>
      ((med(i, pick) - med(base, pick)) / extra / KiB).toFixed(1);
    out(
      `one client, ${configurations[base]?.domains} -> ${c.domains} domains, per extra domain: ` +
        `server RSS ${perDomain(serverRss)} KiB, server heap ${perDomain(serverHeap)} KiB, ` +
        `less code ${perDomain(serverData)} KiB (target <= 10 KiB, issue 15); ` +
        `client RSS ${perDomain((x) => x.clients.rssBytes)} KiB, client heap ${perDomain(clientHeap)} KiB, ` +
        `less code ${perDomain(clientData)} KiB`,
    );
  });
  configurations.forEach((c, i) => {
    if (c.clientProcesses === 1) return;
    const perDomain = (pick: (cost: DomainCost) => number) => (med(i, pick) / c.domains / KiB).toFixed(1);
    out(
      `${c.clientProcesses} client processes, one domain each, per domain: server RSS ${perDomain(serverRss)} KiB, ` +
        `server heap ${perDomain(serverHeap)} KiB; client RSS ${(med(i, (x) => x.clients.rssBytes) / c.domains / MiB).toFixed(1)} MiB`,
    );
  });
}
