import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { createServer, type Socket } from "node:net";
import type { AddressInfo } from "node:net";
import { describe, it } from "node:test";
import { lokiOptionsFromConfig } from "../../src/config/logging-settings.js";
import { createLogging } from "../../src/lib/logging.js";
import { createLokiStream, type LokiErrorReport } from "../../src/lib/loki-stream.js";
import { createLogger } from "../../src/lib/logger.js";
import { startLokiReceiver } from "../helpers/loki-receiver.js";

const PASSWORD = "s3cret-loki-password-do-not-log";

/** A destination that keeps every line, standing in for stdout. */
function captured() {
  const lines: string[] = [];
  return { lines, destination: { write: (line: string) => void lines.push(line) } };
}

/** A port with nothing listening on it (bound once, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function lokiOptions(endpoint: string) {
  const options = lokiOptionsFromConfig(
    {
      lokiEnable: true,
      lokiEndpoint: endpoint,
      lokiTenantId: "tenant-a",
      lokiUsername: "hopgate",
      lokiPassword: PASSWORD,
      lokiStaticLabels: { app: "hopgate", env: "test" },
    },
    "hopgate-server",
  );
  assert.ok(options);
  return { ...options, batchIntervalMs: 50 };
}

describe("Loki push", () => {
  it("pushes every line with the static labels, level, tenant header and basic auth", async (t) => {
    const receiver = await startLokiReceiver(t);
    const stdout = captured();
    const logging = createLogging({
      level: "debug",
      destination: stdout.destination,
      loki: lokiOptions(receiver.url),
    });
    t.after(() => logging.close(1000));
    const proxy = logging.logger.child({ component: "proxy" });
    const before = Date.now();
    proxy.info({ domain: "app.example.com" }, "tunnel up");
    proxy.debug("detail");
    proxy.error({ err: new Error("boom") }, "backend failed");
    await receiver.waitForLines(3);

    const push = receiver.pushes[0]!;
    assert.equal(push.path, "/loki/api/v1/push", "a bare origin gets the push path");
    assert.equal(push.headers["x-scope-orgid"], "tenant-a");
    const expectedAuth = `Basic ${Buffer.from(`hopgate:${PASSWORD}`).toString("base64")}`;
    assert.equal(push.headers.authorization, expectedAuth);
    const streams = receiver.pushes.flatMap((p) => p.streams);
    for (const stream of streams) {
      assert.deepEqual(Object.keys(stream.stream).sort(), ["app", "env", "level", "service"]);
      assert.equal(stream.stream.service, "hopgate-server");
      for (const [ns] of stream.values) {
        const ms = Number(BigInt(ns) / 1_000_000n);
        assert.ok(ms >= before - 1000 && ms <= Date.now() + 1000, `timestamp ${ns} is now, in ns`);
      }
    }
    assert.deepEqual(streams.map((s) => s.stream.level).sort(), ["debug", "error", "info"]);
    assert.deepEqual(
      receiver.lines().map((line) => [line.level, line.component, line.msg]),
      [
        ["info", "proxy", "tunnel up"],
        ["debug", "proxy", "detail"],
        ["error", "proxy", "backend failed"],
      ],
    );
    assert.equal(stdout.lines.length, 3, "stdout gets the same lines");
    assert.ok(
      ![...stdout.lines, ...receiver.lines().map((l) => JSON.stringify(l))].some((l) => l.includes(PASSWORD)),
    );
  });

  it("pushes lines written after quiet intervals (no stale drain left behind)", async (t) => {
    const receiver = await startLokiReceiver(t);
    const stream = createLokiStream({ ...lokiOptions(receiver.url), onError: () => undefined });
    t.after(() => stream.close(1000));
    await new Promise((resolve) => setTimeout(resolve, 200)); // several timer ticks with nothing queued
    createLogger({ level: "info", destination: stream }).info("after a quiet start");
    await receiver.waitForLines(1, 5_000);
  });

  it("keeps logging when Loki is down, reports it once per interval, and closes promptly", async (t) => {
    const port = await closedPort();
    const stdout = captured();
    const logging = createLogging({
      level: "info",
      destination: stdout.destination,
      loki: lokiOptions(`http://hopgate:${PASSWORD}@127.0.0.1:${port}/loki/api/v1/push`),
    });
    t.after(() => logging.close(1000));
    const logger = logging.logger.child({ component: "proxy" });
    const deadline = Date.now() + 800;
    let written = 0;
    while (Date.now() < deadline) {
      assert.doesNotThrow(() => logger.info({ n: written }, "request"));
      written++;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const started = Date.now();
    await logging.close(2000);
    assert.ok(Date.now() - started < 3000, "close gives up within its deadline");

    const parsed = stdout.lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    assert.equal(
      parsed.filter((line) => line.msg === "request").length,
      written,
      "every line reached stdout",
    );
    const warnings = parsed.filter((line) => line.component === "loki");
    assert.equal(warnings.length, 1, "several failed pushes, one report within the interval");
    assert.equal(warnings[0]!.level, "warn");
    assert.match(JSON.stringify(warnings[0]), /ECONNREFUSED/);
    assert.ok(!stdout.lines.some((line) => line.includes(PASSWORD)), "the URL's password is never logged");
  });

  it("delivers lines buffered during an outage once Loki answers again", async (t) => {
    const receiver = await startLokiReceiver(t);
    receiver.respondWith(503);
    const reports: LokiErrorReport[] = [];
    const stream = createLokiStream({
      ...lokiOptions(receiver.url),
      errorReportIntervalMs: 0,
      onError: (report) => reports.push(report),
    });
    t.after(() => stream.close(1000));
    const logger = createLogger({ level: "info", destination: stream });
    for (let i = 0; i < 5; i++) logger.info({ n: i }, "during outage");
    await waitFor(() => reports.length > 0);
    assert.match(reports[0]!.error.message, /Loki answered 503/);
    receiver.respondWith(204);
    await receiver.waitForLines(5);
    assert.deepEqual(
      receiver.lines().map((line) => line.n),
      [0, 1, 2, 3, 4],
    );
  });

  it("drops a batch Loki refuses as invalid (4xx) instead of retrying it forever", async (t) => {
    const receiver = await startLokiReceiver(t);
    receiver.respondWith(400);
    const reports: LokiErrorReport[] = [];
    const stream = createLokiStream({
      ...lokiOptions(receiver.url),
      errorReportIntervalMs: 0,
      onError: (report) => reports.push(report),
    });
    t.after(() => stream.close(1000));
    const logger = createLogger({ level: "info", destination: stream });
    logger.info("refused");
    await waitFor(() => reports.length > 0);
    assert.equal(reports[0]!.droppedLines, 1);
    receiver.respondWith(204);
    logger.info("accepted");
    await receiver.waitForLines(1);
    await stream.flush();
    assert.deepEqual(
      receiver.lines().map((line) => line.msg),
      ["accepted"],
    );
  });

  it("bounds its buffer during an outage, dropping the oldest lines and counting them", async (t) => {
    const port = await closedPort();
    const reports: LokiErrorReport[] = [];
    const stream = createLokiStream({
      ...lokiOptions(`http://127.0.0.1:${port}`),
      maxBufferedBytes: 2_000,
      errorReportIntervalMs: 0,
      onError: (report) => reports.push(report),
    });
    t.after(() => stream.close(1000));
    const logger = createLogger({ level: "info", destination: stream });
    for (let i = 0; i < 200; i++) logger.info({ n: i, pad: "x".repeat(50) }, "line");
    await stream.flush();
    const receiver = await startLokiReceiver(t, port);
    await stream.flush();
    const delivered = receiver.lines().map((line) => line.n as number);
    assert.ok(
      delivered.length > 0 && delivered.length < 30,
      `${delivered.length} lines kept within 2,000 bytes`,
    );
    assert.equal(delivered.at(-1), 199, "the newest lines are kept");
    const dropped = reports.reduce((sum, report) => sum + report.droppedLines, 0);
    assert.equal(dropped + delivered.length, 200, "every line is either delivered or counted as dropped");
  });

  it("gives up on a Loki that accepts connections but never answers, within the close deadline", async (t) => {
    const sockets: Socket[] = [];
    const blackhole = createServer((socket) => void sockets.push(socket));
    await new Promise<void>((resolve) => blackhole.listen(0, "127.0.0.1", resolve));
    t.after(() => {
      for (const socket of sockets) socket.destroy();
      return new Promise<void>((resolve) => blackhole.close(() => resolve()));
    });
    const stream = createLokiStream({
      ...lokiOptions(`http://127.0.0.1:${(blackhole.address() as AddressInfo).port}`),
      onError: () => undefined,
    });
    const logger = createLogger({ level: "info", destination: stream });
    logger.info("into the void");
    await waitFor(() => sockets.length > 0);
    const started = Date.now();
    await stream.close(300);
    assert.ok(Date.now() - started < 2_000, `close took ${Date.now() - started} ms`);
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe("a process logging to Loki", () => {
  const fixture = join(import.meta.dirname, "../fixtures/loki-logging-process.ts");
  const cases: Array<[string, "up" | "down", "close" | "no-close"]> = [
    ["exits by itself while Loki answers, without close()", "up", "no-close"],
    ["exits by itself while Loki is down, without close()", "down", "no-close"],
    ["exits after close() while Loki is down", "down", "close"],
    ["delivers everything on close() while Loki answers", "up", "close"],
  ];
  for (const [name, loki, mode] of cases) {
    it(name, async (t) => {
      const receiver = loki === "up" ? await startLokiReceiver(t) : undefined;
      const endpoint = receiver?.url ?? `http://127.0.0.1:${await closedPort()}`;
      const child = spawn(process.execPath, ["--import", "tsx", fixture, endpoint, mode], {
        stdio: ["ignore", "pipe", "pipe"],
      });
      t.after(() => child.kill("SIGKILL"));
      let stdout = "";
      let stderr = "";
      child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
      child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
      const code = await new Promise<number | null>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`still running after 20 s; stderr: ${stderr}`)),
          20_000,
        );
        child.on("exit", (exitCode) => {
          clearTimeout(timer);
          resolve(exitCode);
        });
      });
      assert.equal(code, 0, stderr);
      assert.equal(stderr, "");
      const lines = stdout
        .trim()
        .split("\n")
        .map((line) => JSON.parse(line) as Record<string, unknown>);
      assert.equal(lines.filter((line) => line.msg === "line").length, 20, "stdout has every line");
      if (receiver && mode === "close") assert.equal(receiver.lines().length, 20, "Loki has every line");
    });
  }
});
