import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import https from "node:https";
import { createServer } from "node:net";
import { dirname } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { CLI, cleanEnv, runCli } from "../helpers/run-cli.js";
import { until } from "../helpers/poll-until.js";
import { tempDir } from "../helpers/temp-dir.js";
import { HOPGATE_NODE_FLAGS } from "../../src/lib/node-flags.js";

/** The demo's temporary directories in `tmp` (the child's TMPDIR; tsx keeps its cache there too). */
function demoDirs(tmp: string): string[] {
  return readdirSync(tmp).filter((name) => name.startsWith("hopgate-demo-"));
}

/** `hopgate demo --https-port 0` (or `args`) as a user runs it; killed when the test ends if still running. */
function spawnDemo(t: TestContext, env: NodeJS.ProcessEnv, args = ["--https-port", "0"]) {
  const child = spawn(process.execPath, [...HOPGATE_NODE_FLAGS, CLI, "demo", ...args], {
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  t.after(() => {
    if (child.exitCode === null) child.kill("SIGKILL");
  });
  let output = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
  return { child, exited, output: () => output };
}

describe("hopgate demo", () => {
  it("runs server, backend and client, answers its printed curl command, and stops cleanly on Ctrl-C", async (t) => {
    const demo = spawnDemo(t, cleanEnv());
    const started = () => demo.output().includes("Press Ctrl-C to stop.");
    await until(() => started() || demo.child.exitCode !== null, "the demo to start", 60_000);
    const output = demo.output();
    assert.ok(started(), `demo did not start:\n${output}`);
    const curl =
      /curl --resolve demo\.localhost:(\d+):127\.0\.0\.1 --cacert (\S+) (https:\/\/demo\.localhost:\d+\/hello)/.exec(
        output,
      );
    assert.ok(curl, `no curl command in:\n${output}`);
    const [, port, caFile] = curl as unknown as [string, string, string];
    const body = await new Promise<string>((resolve, reject) => {
      const request = https.request(
        {
          host: "127.0.0.1",
          port: Number(port),
          path: "/hello",
          servername: "demo.localhost",
          headers: { host: `demo.localhost:${port}` },
          ca: readFileSync(caFile),
        },
        (response) => {
          let text = "";
          response.setEncoding("utf8").on("data", (chunk: string) => (text += chunk));
          response.on("end", () => resolve(text));
        },
      );
      request.on("error", reject);
      request.end();
    });
    const seen = JSON.parse(body) as { message: string; url: string; host: string };
    assert.match(seen.message, /reached through HopGate/);
    assert.equal(seen.url, "/hello");
    assert.equal(seen.host, `demo.localhost:${port}`);

    demo.child.kill("SIGINT");
    assert.equal(await demo.exited, 0, demo.output());
    assert.equal(existsSync(dirname(caFile)), false, "the demo removes its temporary directory");
  });

  it("removes its temporary directory when start-up fails", async (t) => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
    t.after(() => taken.close());
    const port = String((taken.address() as { port: number }).port);
    const cases: Array<[string, string[], number, RegExp]> = [
      ["the HTTPS port is taken", ["--https-port", port], 1, /EADDRINUSE/],
      [
        "the log level is unknown",
        ["--https-port", "0", "--log-level", "loud"],
        2,
        /HOP_LOG_LEVEL|--log-level/,
      ],
    ];
    for (const [label, args, code, message] of cases) {
      const tmp = await tempDir(t);
      const result = await runCli(["demo", ...args], { env: cleanEnv({ TMPDIR: tmp }), timeoutMs: 60_000 });
      assert.equal(result.code, code, `${label}:\n${result.stderr}`);
      assert.match(result.stderr, message, label);
      assert.deepEqual(demoDirs(tmp), [], `${label}: no temporary directory left`);
    }
  });

  it("picks a free port and says so when its default port 8443 is taken", async (t) => {
    // Taken by this test, or already by something else on the machine: either way it is taken.
    const holder = createServer();
    await new Promise<void>((resolve) => {
      holder.once("error", () => resolve());
      holder.listen(8443, "127.0.0.1", resolve);
    });
    t.after(() => holder.close());
    const demo = spawnDemo(t, cleanEnv(), []);
    const started = () => demo.output().includes("Press Ctrl-C to stop.");
    await until(() => started() || demo.child.exitCode !== null, "the demo to start", 60_000);
    assert.ok(started(), `demo did not start:\n${demo.output()}`);
    assert.match(demo.output(), /port 8443 is taken; using a free port instead/);
    const port = /https:\/\/demo\.localhost:(\d+)\/hello/.exec(demo.output())?.[1];
    assert.ok(port !== undefined && port !== "8443", `the demo names another port:\n${demo.output()}`);
    demo.child.kill("SIGINT");
    assert.equal(await demo.exited, 0, demo.output());
  });

  it("stops what it started and removes its temporary directory on Ctrl-C during start-up", async (t) => {
    const tmp = await tempDir(t);
    const demo = spawnDemo(t, cleanEnv({ TMPDIR: tmp }));
    await until(() => demoDirs(tmp).length > 0, "the demo's temporary directory", 60_000);
    demo.child.kill("SIGINT");
    assert.equal(await demo.exited, 0, demo.output());
    const output = demo.output();
    t.diagnostic(
      output.includes("Press Ctrl-C") ? "interrupted after start-up" : "interrupted during start-up",
    );
    assert.match(output, /HopGate demo stopped\./);
    assert.deepEqual(demoDirs(tmp), [], "no temporary directory left");
  });
});
