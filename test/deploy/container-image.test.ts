import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { promisify } from "node:util";
import { startBackend } from "../helpers/backend.js";
import {
  DEPLOY_DIR,
  execForm,
  healthcheckCommand,
  instructionArgs,
  readDeployYaml,
  readDockerfile,
  stageEnv,
  type DockerStage,
} from "../helpers/deploy-files.js";
import { freePort } from "../helpers/free-port.js";
import { startGateway } from "../helpers/gateway.js";
import { spawnHopgate } from "../helpers/hopgate-process.js";
import { cleanEnv, COMPILED_CLI } from "../helpers/run-cli.js";
import { tempDir } from "../helpers/temp-dir.js";
import { visit } from "../helpers/visit.js";

// deploy/Dockerfile cannot be built here (no Docker daemon, no registry for node:24-slim), so this
// file checks what can be checked without one: statically, that the image installs the npm
// package and runs its `hopgate` command as a non-root user; and for real, that the HEALTHCHECK
// command passes against `hopgate client` and `hopgate server` started with the image's ENV.

const ROOT = join(DEPLOY_DIR, "..");
const run = promisify(execFile);

const stages = readDockerfile();
const runtime = stages.at(-1)!;
const imageEnv = stageEnv(runtime);

/** The single port a `http://127.0.0.1:<port>/healthz` health check probes. */
function probedPort(command: readonly string[]): number {
  const ports = command.flatMap((arg) => [...arg.matchAll(/http:\/\/127\.0\.0\.1:(\d+)\/healthz/g)]);
  assert.equal(ports.length, 1, `one /healthz URL in ${JSON.stringify(command)}`);
  return Number(ports[0]![1]);
}

/** `hopgate config <mode>` under the image's ENV (and `extra`): the effective settings. */
async function effectiveConfig(
  t: TestContext,
  mode: "server" | "client",
  extra: Record<string, string> = {},
): Promise<Record<string, unknown>> {
  const { stdout } = await run(process.execPath, [COMPILED_CLI, "config", mode], {
    cwd: await tempDir(t, "hopgate-image-"),
    env: cleanEnv({ ...imageEnv, ...extra }),
  });
  return JSON.parse(stdout) as Record<string, unknown>;
}

const CLIENT_SETTINGS = {
  HOP_CLIENT_SERVER_ADDR: "tunnel.example.com",
  HOP_CLIENT_DOMAIN: "app.example.com",
  HOP_CLIENT_API_KEY: "client-key-0123456789",
  HOP_CLIENT_LOCAL_TARGET: "8080",
};

/**
 * Runs the image's HEALTHCHECK command as Docker would, inside the "container" this host stands
 * for: `node` is the image's Node.js 24 (here the one running the tests), and the probed port,
 * fixed in the image, is moved to `port` (a free one here) exactly as the processes' ENV is.
 */
function runHealthcheck(port: number): Promise<number | null> {
  const [program, ...args] = healthcheckCommand(runtime).map((arg) =>
    arg.replace(`127.0.0.1:${probedPort(healthcheckCommand(runtime))}/`, `127.0.0.1:${port}/`),
  );
  assert.equal(program, "node");
  const child = spawn(process.execPath, args, { stdio: "ignore", timeout: 15_000 });
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("exit", (code) => resolve(code));
  });
}

/** The image's ENV with every listener on the image's port `from` moved to `to`. */
function envWithPort(from: number, to: number): Record<string, string> {
  return Object.fromEntries(
    Object.entries(imageEnv).map(([key, value]) => [key, value === `:${from}` ? `:${to}` : value]),
  );
}

describe("deploy/Dockerfile", () => {
  it("packs the npm package in one stage and installs that tarball alone in the runtime stage", () => {
    assert.equal(stages.length, 2, "a packing stage and the runtime");
    const [pack] = stages as [DockerStage, DockerStage];
    assert.ok(pack.name, "the packing stage is named");
    assert.ok(
      instructionArgs(pack, "RUN").some((args) => /\bnpm pack\b/.test(args)),
      "npm pack builds the tarball (prepack builds the bundle)",
    );
    for (const args of instructionArgs(pack, "COPY")) {
      for (const source of args.split(/\s+/).slice(0, -1))
        assert.ok(existsSync(join(ROOT, source)), `COPY ${source}`);
    }

    assert.match(runtime.image, /^node:24(-slim)?$/);
    const copies = instructionArgs(runtime, "COPY");
    assert.equal(copies.length, 1, `the runtime copies one thing: ${copies.join(" | ")}`);
    const [, from, source, target] = /^--from=(\S+)\s+(\S+)\s+(\S+)$/.exec(copies[0]!) ?? [];
    assert.equal(from, pack.name, "from the packing stage");
    assert.match(source!, /\.tgz$/, "the tarball, not sources, dist/ or node_modules");
    const install = instructionArgs(runtime, "RUN").find((args) => /\bnpm install\b/.test(args));
    assert.ok(install, "the runtime installs the package");
    assert.match(install, new RegExp(`npm install --global --omit=dev [^&]*${escape(target!)}`));
  });

  it("runs the package's installed `hopgate` command (its shebang carries the V8 flags)", () => {
    const [entrypoint] = instructionArgs(runtime, "ENTRYPOINT");
    assert.deepEqual(execForm(entrypoint!), ["hopgate"]);
    assert.deepEqual(execForm(instructionArgs(runtime, "CMD")[0]!), ["server"]);
    const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
      bin: Record<string, string>;
    };
    assert.deepEqual(
      pkg.bin,
      { hopgate: "bin/hopgate.js" },
      "npm install -g links `hopgate` to bin/hopgate.js",
    );
    // test/cli/node-flags.test.ts holds the shebang's flags equal to src/lib/node-flags.ts.
    assert.match(readFileSync(join(ROOT, "bin/hopgate.js"), "utf8"), /^#!\/usr\/bin\/env -S node /);
  });

  it("runs as the unprivileged node user", () => {
    const keywords = runtime.instructions.map((i) => i.keyword);
    const users = instructionArgs(runtime, "USER");
    assert.deepEqual(users, ["node"]);
    assert.ok(keywords.indexOf("USER") < keywords.indexOf("ENTRYPOINT"), "USER before ENTRYPOINT");
    assert.ok(keywords.lastIndexOf("RUN") < keywords.indexOf("USER"), "no RUN as node after USER");
  });

  it("keeps the client's request inspector off", async (t) => {
    assert.equal(imageEnv.HOP_CLIENT_INSPECT, "off");
    const client = await effectiveConfig(t, "client", CLIENT_SETTINGS);
    assert.equal(client.HOP_CLIENT_INSPECT, null, "off, not auto (a `docker run -t` has a terminal)");
  });

  it("probes /healthz on the port that both `server` and `client` listen on under its ENV", async (t) => {
    const port = probedPort(healthcheckCommand(runtime));
    const client = await effectiveConfig(t, "client", CLIENT_SETTINGS);
    assert.deepEqual(client.HOP_CLIENT_METRICS_LISTEN, { host: "", port });
    const server = await effectiveConfig(t, "server");
    assert.deepEqual(server.HOP_METRICS_LISTEN, { host: "", port });
  });
});

describe("deploy/compose.yaml and the image", () => {
  it("builds this image and keeps its user, entry point and health check", () => {
    const { services } = readDeployYaml<{ services: Record<string, Record<string, unknown>> }>(
      "compose.yaml",
    );
    const hopgate = services.hopgate!;
    assert.deepEqual(hopgate.build, { context: "..", dockerfile: "deploy/Dockerfile" });
    for (const key of ["user", "entrypoint", "healthcheck", "command"])
      assert.equal(hopgate[key], undefined, `compose leaves the image's ${key}`);
    const environment = (hopgate.environment ?? {}) as Record<string, string>;
    const port = probedPort(healthcheckCommand(runtime));
    assert.equal(environment.HOP_METRICS_LISTEN ?? imageEnv.HOP_METRICS_LISTEN, `:${port}`);
  });
});

describe("the image's HEALTHCHECK, run against real processes with the image's ENV", () => {
  it("passes for `hopgate client`, and fails while no client runs", async (t) => {
    const imagePort = probedPort(healthcheckCommand(runtime));
    const port = await freePort();
    assert.notEqual(await runHealthcheck(port), 0, "nothing listens yet: the check fails");

    const gateway = await startGateway(t);
    const backend = await startBackend(t, (_req, res) => res.end("ok"));
    const key = await gateway.register("image.example.test");
    const client = spawnHopgate(t, ["client"], {
      ...envWithPort(imagePort, port),
      HOP_DATA_DIR: await tempDir(t, "hopgate-image-data-"), // the image's /data volume
      HOP_CLIENT_SERVER_ADDR: `https://127.0.0.1:${gateway.port}`,
      HOP_CLIENT_DOMAIN: "image.example.test",
      HOP_CLIENT_API_KEY: key,
      HOP_CLIENT_LOCAL_TARGET: backend.url,
      HOP_CLIENT_CA_FILE: gateway.caFile,
    });
    const started = await client.waitForLine((line) => line.msg === "starting HopGate client");
    assert.equal(started.metrics_port, port);
    assert.equal(started.inspector, "off");
    await client.waitForLine((line) => line.msg === "tunnel accepted");
    assert.equal((await visit(gateway.port, "image.example.test", "/")).status, 200);
    assert.equal(await runHealthcheck(port), 0, client.output());
  });

  it("passes for `hopgate server`", async (t) => {
    const imagePort = probedPort(healthcheckCommand(runtime));
    const port = await freePort();
    const moved = envWithPort(imagePort, port);
    const server = spawnHopgate(t, ["server"], {
      ...moved,
      HOP_SERVER_HTTP_LISTEN: "127.0.0.1:0",
      HOP_SERVER_HTTPS_LISTEN: "127.0.0.1:0",
      HOP_DATA_DIR: await tempDir(t, "hopgate-image-data-"),
      HOP_SERVER_DOMAIN: "localhost",
    });
    await server.waitForLine((line) => line.msg === "HopGate server listening");
    assert.equal(await runHealthcheck(port), 0, server.output());
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
