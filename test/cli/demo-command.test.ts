import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import https from "node:https";
import { dirname } from "node:path";
import { describe, it } from "node:test";
import { CLI, cleanEnv } from "../helpers/run-cli.js";
import { HOPGATE_NODE_FLAGS } from "../../src/lib/node-flags.js";

describe("hopgate demo", () => {
  it("runs server, backend and client, answers its printed curl command, and stops cleanly on Ctrl-C", async (t) => {
    const child = spawn(process.execPath, [...HOPGATE_NODE_FLAGS, CLI, "demo", "--https-port", "0"], {
      env: cleanEnv(),
      stdio: ["ignore", "pipe", "pipe"],
    });
    t.after(() => {
      if (child.exitCode === null) child.kill("SIGKILL");
    });
    let output = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
    const deadline = Date.now() + 60_000;
    while (!output.includes("Press Ctrl-C to stop.")) {
      assert.ok(Date.now() < deadline && child.exitCode === null, `demo did not start:\n${output}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
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

    child.kill("SIGINT");
    const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
    assert.equal(code, 0, output);
    assert.equal(existsSync(dirname(caFile)), false, "the demo removes its temporary directory");
  });
});
