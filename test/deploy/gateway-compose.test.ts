import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { promisify } from "node:util";
import { parse } from "dotenv";
import { parse as parseYaml } from "yaml";
import { DEPLOY_DIR } from "../helpers/deploy-files.js";
import { cleanEnv, COMPILED_CLI } from "../helpers/run-cli.js";
import { tempDir } from "../helpers/temp-dir.js";

// deploy/compose.gateway.yaml: two servers as one gateway (docs/scale-out.md). No Docker here:
// this checks that the file wires the servers as the design says and that `hopgate config server`
// accepts each server's environment as compose would give it (values from .env.example).

const run = promisify(execFile);

interface Service {
  readonly image?: string;
  readonly build?: unknown;
  readonly environment?: Record<string, string>;
  readonly ports?: readonly string[];
}

// `merge`: compose reads `<<: *anchor` merge keys (YAML 1.1), as the file's services use them.
const { services } = parseYaml(readFileSync(join(DEPLOY_DIR, "compose.gateway.yaml"), "utf8"), {
  merge: true,
}) as { services: Record<string, Service> };
const dotEnv = parse(readFileSync(join(DEPLOY_DIR, ".env.example")));

/** Compose's `${NAME}`, `${NAME:?message}` and `${NAME:-default}` substitution from .env.example. */
function substitute(value: string): string {
  return value.replace(/\$\{([A-Z0-9_]+)(?::[?-]([^}]*))?\}/g, (_all, name: string) => {
    const found = dotEnv[name];
    assert.ok(found !== undefined, `.env.example sets ${name}`);
    return found;
  });
}

const servers = Object.entries(services).filter(([name]) => name.startsWith("hopgate"));

describe("deploy/compose.gateway.yaml", () => {
  it("runs two servers of the image on one database, each with its own advertise and peer address", () => {
    assert.equal(servers.length, 2);
    const environments = servers.map(([, service]) => service.environment ?? {});
    for (const [name, service] of servers) {
      assert.deepEqual(service.build, { context: "..", dockerfile: "deploy/Dockerfile" }, name);
      const env = service.environment ?? {};
      assert.match(env.HOP_SERVER_PEER_LISTEN ?? "", /^:\d+$/, `${name} listens for peers`);
      const peerPort = env.HOP_SERVER_PEER_LISTEN!.slice(1);
      assert.equal(env.HOP_SERVER_PEER_ADVERTISE_ADDR, `${name}:${peerPort}`, `${name}'s peers dial it`);
      for (const port of service.ports ?? [])
        assert.ok(!port.endsWith(`:${peerPort}`), `${name} never publishes its peer port (${port})`);
    }
    assert.equal(environments[0]!.HOP_DB_DSN, environments[1]!.HOP_DB_DSN, "one database");
    const advertised = environments.map((env) => substitute(env.HOP_SERVER_ADVERTISE_ADDR ?? ""));
    assert.notEqual(advertised[0], advertised[1]);
    const published = servers.map(([, service]) => (service.ports ?? []).map(substitute));
    for (const ports of published)
      assert.ok(
        ports.some((p) => p.endsWith(":443:8443")),
        ports.join(),
      );
    assert.notEqual(published[0]!.join(), published[1]!.join(), "each server on its own address");
  });

  for (const [name, service] of servers)
    it(`${name}'s environment is a valid server configuration`, async (t) => {
      const env: Record<string, string> = {};
      for (const [key, value] of Object.entries(service.environment ?? {})) env[key] = substitute(value);
      const { stdout } = await run(process.execPath, [COMPILED_CLI, "config", "server"], {
        cwd: await tempDir(t, "hopgate-gateway-compose-"),
        env: cleanEnv({ ...env, HOP_SERVER_DOMAIN: dotEnv.HOPGATE_DOMAIN! }),
      });
      const config = JSON.parse(stdout) as Record<string, unknown>;
      assert.equal(config.HOP_SERVER_ADVERTISE_ADDR, env.HOP_SERVER_ADVERTISE_ADDR);
      assert.equal(config.HOP_SERVER_PEER_ADVERTISE_ADDR, env.HOP_SERVER_PEER_ADVERTISE_ADDR);
      assert.deepEqual(config.HOP_SERVER_PEER_LISTEN, { host: "", port: 7443 });
    });
});
