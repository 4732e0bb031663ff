import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { promisify } from "node:util";
import { parse as parseDotenv } from "dotenv";
import { loadConfig } from "../../src/config/load-config.js";
import { lokiOptionsFromConfig } from "../../src/config/logging-settings.js";
import { serverSettings } from "../../src/config/server-settings.js";
import { JEMALLOC_CONF } from "../../src/cli/allocator.js";
import { DEPLOY_DIR, readDeployYaml, readDockerfile, stageEnv } from "../helpers/deploy-files.js";

const run = promisify(execFile);

interface ComposeService {
  build?: { context: string; dockerfile: string };
  image?: string;
  environment?: Record<string, string>;
  ports?: string[];
  volumes?: string[];
  command?: string[] | string;
}
const compose = () => readDeployYaml<{ services: Record<string, ComposeService> }>("compose.yaml");

/** Compose's `${VAR:?msg}` and `${VAR:-default}` filled with sample values, as `docker compose` would. */
function substitute(value: string): string {
  return value.replace(/\$\{(\w+)(?::[?-]([^}]*))?\}/g, (_, name: string, fallback: string | undefined) =>
    name === "POSTGRES_PASSWORD" ? "sample-password" : (fallback ?? "x"),
  );
}

describe("deploy/compose.yaml", () => {
  it("runs the server, PostgreSQL, Prometheus, Loki and Grafana from files that exist", () => {
    const { services } = compose();
    assert.deepEqual(Object.keys(services).sort(), ["grafana", "hopgate", "loki", "postgres", "prometheus"]);
    const build = services.hopgate!.build!;
    assert.ok(
      existsSync(join(DEPLOY_DIR, build.context, build.dockerfile)),
      "the Dockerfile is where build points",
    );
    for (const [name, service] of Object.entries(services)) {
      for (const volume of service.volumes ?? []) {
        const source = volume.split(":")[0]!;
        if (source.startsWith("."))
          assert.ok(existsSync(join(DEPLOY_DIR, source)), `${name} mounts ${source}`);
      }
    }
  });

  it("publishes only 80 and 443 publicly; monitoring stays on loopback and metrics unpublished", () => {
    const { services } = compose();
    assert.deepEqual(services.hopgate!.ports, ["80:8080", "443:8443"]);
    for (const name of ["prometheus", "loki", "grafana"]) {
      for (const port of services[name]!.ports ?? []) assert.match(port, /^127\.0\.0\.1:/, `${name} ${port}`);
    }
  });

  it("gives HopGate settings its own configuration loader accepts, wired to the other services", () => {
    const { services } = compose();
    // Compose's precedence: `environment` over `env_file` over the image's ENV.
    const env = {
      ...dockerfileEnv(),
      ...parseDotenv(readFileSync(join(DEPLOY_DIR, "hopgate.env.example"))),
      ...envOf(services.hopgate!),
    };
    const config = loadConfig(serverSettings, { env, dotenvDir: null });
    assert.equal(config.dbDsn, "postgres://hopgate:sample-password@postgres:5432/hopgate");
    assert.deepEqual(
      config.metricsListen,
      { host: "", port: 9100 },
      "Prometheus in another container can scrape",
    );
    assert.deepEqual(config.httpsListen, { host: "", port: 8443 });
    const loki = lokiOptionsFromConfig(config, "hopgate-server");
    assert.equal(loki?.endpoint, "http://loki:3100/loki/api/v1/push");
    assert.equal(loki?.labels.app, "hopgate", "the dashboard's log panels select app=hopgate");

    const prometheus = readDeployYaml<{
      scrape_configs: Array<{ job_name: string; static_configs: Array<{ targets: string[] }> }>;
    }>("prometheus/prometheus.yml");
    const targets = prometheus.scrape_configs.find((job) => job.job_name === "hopgate")!.static_configs[0]!
      .targets;
    assert.deepEqual(targets, [`hopgate:${config.metricsListen?.port}`]);
    const sources = readDeployYaml<{ datasources: Array<{ type: string; url: string }> }>(
      "grafana/provisioning/datasources/hopgate.yaml",
    ).datasources;
    assert.deepEqual(sources.map((s) => s.url).sort(), ["http://loki:3100", "http://prometheus:9090"]);
  });
});

describe("deploy/compose.yaml set-up steps", () => {
  const composeText = readFileSync(join(DEPLOY_DIR, "compose.yaml"), "utf8");
  const operations = readFileSync(join(DEPLOY_DIR, "../docs/operations.md"), "utf8");
  /** `cp SOURCE TARGET` pairs in `text`. */
  const copies = (text: string) =>
    [...text.matchAll(/\bcp (\S+) (\S+)/g)].map((m) => [m[1]!, m[2]!] as const);

  for (const [name, text] of [
    ["compose.yaml's header", composeText.split("\nname:")[0]!],
    ["docs/operations.md", operations.split("### With systemd")[0]!],
  ] as const) {
    it(`${name} copies the examples in deploy/ to the .env and hopgate.env that compose reads`, () => {
      const steps = new Map(copies(text).map(([source, target]) => [target, source]));
      assert.equal(steps.get(".env"), ".env.example");
      assert.equal(steps.get("hopgate.env"), "hopgate.env.example");
      for (const source of steps.values()) assert.ok(existsSync(join(DEPLOY_DIR, source)), source);
    });
  }

  it("needs only variables that .env.example sets, and reads ./hopgate.env", () => {
    const required = new Set([...composeText.matchAll(/\$\{(\w+):\?/g)].map((m) => m[1]!));
    const example = parseDotenv(readFileSync(join(DEPLOY_DIR, ".env.example")));
    for (const name of required) assert.ok(example[name], `.env.example sets ${name}`);
    const envFile = compose().services.hopgate as { env_file?: Array<{ path: string }> };
    assert.deepEqual(
      envFile.env_file?.map((file) => file.path),
      ["./hopgate.env"],
    );
  });
});

/** The hopgate service's environment after compose substitution. */
function envOf(service: ComposeService): Record<string, string> {
  return Object.fromEntries(Object.entries(service.environment ?? {}).map(([k, v]) => [k, substitute(v)]));
}

/** `ENV` of the image's runtime (last) stage; test/deploy/container-image.test.ts checks the rest. */
function dockerfileEnv(): Record<string, string> {
  return stageEnv(readDockerfile().at(-1)!);
}

describe("deploy/prometheus", () => {
  it("is a configuration promtool accepts", async () => {
    const { stdout } = await run("promtool", [
      "check",
      "config",
      join(DEPLOY_DIR, "prometheus/prometheus.yml"),
    ]);
    assert.match(stdout, /SUCCESS/);
  });

  it("has alert rules that pass promtool's unit tests", async () => {
    const { stdout } = await run("promtool", [
      "test",
      "rules",
      join(DEPLOY_DIR, "prometheus/alerts.test.yml"),
    ]);
    assert.match(stdout, /SUCCESS/);
  });
});

/** Set by CI (.ci/run installs systemd): the unit check must then run, never skip. */
const SYSTEMD_VARIABLE = "HOPGATE_TEST_SYSTEMD";
const SYSTEMD_ANALYZE = "/usr/bin/systemd-analyze";

describe("deploy/systemd", () => {
  for (const unit of ["hopgate-server.service", "hopgate-client.service"]) {
    it(`${unit} passes systemd-analyze verify and is hardened`, async (t) => {
      const text = readFileSync(join(DEPLOY_DIR, "systemd", unit), "utf8");
      for (const directive of [
        "DynamicUser=yes",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "StateDirectory=",
        "EnvironmentFile=/etc/hopgate/",
      ]) {
        assert.ok(text.includes(directive), `${unit} sets ${directive}`);
      }
      if (unit.includes("server")) assert.match(text, /^AmbientCapabilities=CAP_NET_BIND_SERVICE$/m);
      if (!existsSync(SYSTEMD_ANALYZE)) {
        // CI (HOPGATE_TEST_SYSTEMD=1) installs it: there a missing tool is a failure, not a skip.
        assert.notEqual(
          process.env[SYSTEMD_VARIABLE],
          "1",
          `${SYSTEMD_VARIABLE}=1 but ${SYSTEMD_ANALYZE} is missing (Debian package systemd)`,
        );
        t.skip(`${SYSTEMD_ANALYZE} is not installed (${SYSTEMD_VARIABLE}=1 makes this a failure)`);
        return;
      }
      const result = await run(SYSTEMD_ANALYZE, ["verify", join(DEPLOY_DIR, "systemd", unit)]).catch(
        (error: { stderr: string }) => ({ stderr: error.stderr }),
      );
      // Only the absence of Node at /usr/bin/node on a build machine is acceptable.
      const problems = result.stderr.split("\n").filter((line) => line && !line.includes("/usr/bin/node"));
      assert.deepEqual(problems, []);
    });
  }
});

describe("memory allocator", () => {
  it("preloads jemalloc in the image and the server's systemd unit, with the launcher's MALLOC_CONF", () => {
    // glibc's malloc kept a connection flood's memory (docs/performance.md, Connection flood).
    const env = dockerfileEnv();
    assert.match(env.LD_PRELOAD ?? "", /\/libjemalloc\.so\.2$/);
    assert.equal(env.MALLOC_CONF, JEMALLOC_CONF);
    assert.match(readFileSync(join(DEPLOY_DIR, "Dockerfile"), "utf8"), /apt-get install [^\n]*libjemalloc2/);
    const unit = readFileSync(join(DEPLOY_DIR, "systemd", "hopgate-server.service"), "utf8");
    assert.match(unit, /^Environment=LD_PRELOAD=\S*\/libjemalloc\.so\.2$/m);
    assert.ok(unit.includes(`\nEnvironment=MALLOC_CONF=${JEMALLOC_CONF}\n`), "the launcher's MALLOC_CONF");
  });
});
