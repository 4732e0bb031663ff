import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { generator } from "./measure.js";
import { startProcess, withPeakRss, type BenchProcess } from "./processes.js";
import { TENANT, type Stack } from "./stack.js";

const KiB = 1024;

/** Server RSS before and with `count` idle v2 tunnels (bench/idle-tunnels.ts), per tunnel. */
export async function measureIdleTunnels(
  stack: Pick<Stack, "server" | "httpsPort" | "clientKey">,
  count: number,
) {
  const { perConnectionKiB, ...held } = await measureHeldConnections(stack.server, "idle-tunnels", {
    url: `https://127.0.0.1:${stack.httpsPort}`,
    domain: TENANT,
    apiKey: stack.clientKey,
    count,
  });
  return { ...held, perTunnelKiB: perConnectionKiB };
}

/**
 * Server RSS before and with the idle connections that bench/`holder`.ts opens to `server` (in its
 * own process, with `options`; it prints `{"accepted": N, "failed": M}` once every one of
 * `options.count` has answered, then holds them until killed), per connection: 1 s of quiet before,
 * 3 s after.
 */
export async function measureHeldConnections(
  server: BenchProcess,
  holder: string,
  options: Readonly<Record<string, unknown>> & { readonly count: number },
) {
  await sleep(1000);
  const beforeBytes = server.rssBytes();
  const connections = startProcess(holder, process.execPath, [
    "--import",
    "tsx",
    join(import.meta.dirname, `${holder}.ts`),
    JSON.stringify(options),
  ]);
  const answer = await connections.waitForLine((l) => typeof l.accepted === "number", 180_000);
  await sleep(3000);
  const withBytes = server.rssBytes();
  await connections.stop();
  return {
    count: options.count,
    accepted: answer.accepted as number,
    failed: answer.failed as number,
    serverBeforeBytes: beforeBytes,
    serverWithBytes: withBytes,
    perConnectionKiB: (withBytes - beforeBytes) / options.count / KiB,
  };
}

/**
 * `count` long polls (each answered by the backend after 10 s) in flight at once through the one
 * tunnel, from HTTP/2 visitors: errors, and the memory each in-flight stream costs server and client.
 */
export async function measureLongPolls(stack: Stack, count: number) {
  await sleep(3000); // the idle tunnels' connections are gone
  const before = [stack.server.rssBytes(), stack.client.rssBytes()];
  const { result, peakBytes } = await withPeakRss([stack.server, stack.client], () =>
    generator("poll", {
      url: `https://127.0.0.1:${stack.httpsPort}/poll?ms=10000`,
      host: TENANT,
      http2: true,
      connections: 20,
      count,
    }),
  );
  const perStream = (i: number) => ((peakBytes[i] ?? 0) - (before[i] ?? 0)) / count / KiB;
  return {
    count,
    ok: result.ok,
    errors: result.errors,
    elapsedMs: result.elapsedMs,
    serverBeforeBytes: before[0],
    serverPeakBytes: peakBytes[0],
    clientBeforeBytes: before[1],
    clientPeakBytes: peakBytes[1],
    serverPerStreamKiB: perStream(0),
    clientPerStreamKiB: perStream(1),
  };
}
