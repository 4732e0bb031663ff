import assert from "node:assert/strict";
import { once } from "node:events";
import { writeFile } from "node:fs/promises";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { loadClientFile } from "../../src/config/client-file.js";
import { echoed, echoHandler, startBackend, type Echo } from "../helpers/backend.js";
import { startFileClient } from "../helpers/file-client.js";
import { startGateway } from "../helpers/gateway.js";
import { spawnHopgate } from "../helpers/hopgate-process.js";
import { lifoCleanup } from "../helpers/lifo-cleanup.js";
import { selfSignedCertificate } from "../helpers/self-signed-cert.js";
import { startTcpProxy } from "../helpers/tcp-proxy.js";
import { tempDir } from "../helpers/temp-dir.js";
import { visit } from "../helpers/visit.js";

async function startHttpsBackend(t: TestContext): Promise<{ url: string; caFile: string }> {
  const certificate = await selfSignedCertificate();
  const server = https.createServer(certificate, echoHandler);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  t.after(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const caFile = join(await tempDir(t), "backend-ca.pem");
  await writeFile(caFile, certificate.cert);
  return { url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`, caFile };
}

function echoOf(body: Buffer): Echo {
  return JSON.parse(body.toString()) as Echo;
}

describe("client config file", () => {
  it("serves two domains from one process over one connection, with Host rewrite and https backends", async (t) => {
    const cleanup = lifoCleanup(t);
    const gateway = await startGateway(t);
    const proxy = await startTcpProxy({ host: "127.0.0.1", port: gateway.port }, cleanup);
    const web = await startBackend(t, echoHandler);
    const api = await startBackend(t, echoHandler);
    const secure = await startHttpsBackend(t);
    const appKey = await gateway.register("app.example.test");
    const docsKey = await gateway.register("docs.example.test");
    const dir = await tempDir(t);
    await writeFile(join(dir, "app.key"), `${appKey}\n`);
    const path = join(dir, "hopgate.yaml");
    await writeFile(
      path,
      [
        `server: https://127.0.0.1:${proxy.port}`,
        `ca_file: ${gateway.caFile}`,
        "domains:",
        "  - domain: app.example.test",
        "    api_key_file: app.key",
        "    services:",
        `      - { name: web, url: "${web.url}" }`,
        `      - { name: api, prefix: /api, url: "${api.url}", host_header: api.internal }`,
        "      - name: secure",
        "        prefix: /secure",
        `        url: ${secure.url}`,
        `        ca_file: ${secure.caFile}`,
        "        timeout_seconds: 30",
        "  - domain: docs.example.test",
        "    api_key: ${DOCS_KEY_FOR_TEST}",
        `    services: [{ name: web, url: "${secure.url}", tls_skip_verify: true }]`,
        "",
      ].join("\n"),
    );
    process.env.DOCS_KEY_FOR_TEST = docsKey;
    t.after(() => delete process.env.DOCS_KEY_FOR_TEST);
    const client = await startFileClient(t, path);
    await client.connected;

    const cases: Array<[host: string, path: string, host_seen: string]> = [
      ["app.example.test", "/", "app.example.test"],
      ["app.example.test", "/api/users", "api.internal"],
      ["app.example.test", "/secure/x", "app.example.test"],
      ["docs.example.test", "/guide", "docs.example.test"],
    ];
    for (const [host, urlPath, hostSeen] of cases) {
      const response = await visit(gateway.port, host, urlPath);
      assert.equal(response.status, 200, `${host}${urlPath}: ${response.body.toString()}`);
      const echo = echoOf(response.body);
      assert.equal(echo.url, urlPath);
      assert.deepEqual(echoed(echo, "host"), [hostSeen], `${host}${urlPath}`);
    }
    assert.equal(proxy.openConnections, 1, "both domains' tunnels share one connection to the server");
  });

  it("refuses an https backend whose certificate it cannot verify unless told to skip verification", async (t) => {
    const gateway = await startGateway(t);
    const secure = await startHttpsBackend(t);
    const key = await gateway.register("verify.example.test");
    const dir = await tempDir(t);
    const path = join(dir, "hopgate.yaml");
    await writeFile(
      path,
      [
        `server: https://127.0.0.1:${gateway.port}`,
        `ca_file: ${gateway.caFile}`,
        "domains:",
        `  - { domain: verify.example.test, api_key: ${key}, services: [{ name: web, url: "${secure.url}" }] }`,
      ].join("\n"),
    );
    const client = await startFileClient(t, path);
    await client.connected;
    const response = await visit(gateway.port, "verify.example.test", "/");
    assert.equal(response.status, 502, "a self-signed backend certificate is not trusted by default");
  });

  it("reloads on SIGHUP: adds a domain, leaves the unchanged one alone, keeps running on a broken file", async (t) => {
    const gateway = await startGateway(t);
    const backend = await startBackend(t, echoHandler);
    const oneKey = await gateway.register("one.example.test");
    const twoKey = await gateway.register("two.example.test");
    const dir = await tempDir(t);
    const path = join(dir, "hopgate.yaml");
    const head = [`server: https://127.0.0.1:${gateway.port}`, `ca_file: ${gateway.caFile}`, "domains:"];
    const one = `  - { domain: one.example.test, api_key: ${oneKey}, services: [{ name: web, url: "${backend.url}" }] }`;
    const two = `  - { domain: two.example.test, api_key: ${twoKey}, services: [{ name: web, url: "${backend.url}" }] }`;
    await writeFile(path, [...head, one].join("\n"));
    const client = spawnHopgate(t, ["client", "--config", path]);
    const accepted = (domain: string) => (line: Record<string, unknown>) =>
      line.msg === "tunnel accepted" && line.domain === domain;
    const first = await client.waitForLine(accepted("one.example.test"));
    assert.equal((await visit(gateway.port, "one.example.test", "/")).status, 200);
    assert.equal((await visit(gateway.port, "two.example.test", "/")).status, 502);

    await writeFile(path, [...head, one, two].join("\n"));
    client.child.kill("SIGHUP");
    const reloaded = await client.waitForLine((line) => line.msg === "config file reloaded");
    assert.deepEqual(reloaded.added, ["two.example.test"]);
    assert.deepEqual(reloaded.unchanged, ["one.example.test"]);
    await client.waitForLine(accepted("two.example.test"));
    assert.equal((await visit(gateway.port, "two.example.test", "/")).status, 200);
    const acceptedOne = client.lines.filter(accepted("one.example.test"));
    assert.deepEqual(acceptedOne, [first], "the unchanged domain kept its tunnel");

    await writeFile(path, [...head, "  - { domain: one.example.test }"].join("\n"));
    client.child.kill("SIGHUP");
    const refused = await client.waitForLine(
      (line) => line.msg?.toString().startsWith("config file not reloaded") === true,
    );
    assert.match(
      String((refused.err as { message?: string }).message),
      /hopgate\.yaml:4: domains\[0\]\.services: is required/,
    );
    assert.equal(
      (await visit(gateway.port, "two.example.test", "/")).status,
      200,
      "the running configuration stays",
    );
  });

  describe("reports errors with the file, line and field", () => {
    const header = ["server: https://hopgate.example.com", "domains:"];
    const key = "k".repeat(32);
    const cases: Array<[name: string, lines: string[], error: RegExp]> = [
      ["a YAML syntax error", [...header, "  - domain: [a"], /hopgate\.yaml:3: /],
      [
        "a missing domains list",
        ["server: https://hopgate.example.com"],
        /hopgate\.yaml:1: domains: is required/,
      ],
      [
        "a bad service URL",
        [
          ...header,
          `  - domain: a.example.com`,
          `    api_key: ${key}`,
          "    services:",
          "      - { name: web, url: ftp://x }",
        ],
        /hopgate\.yaml:6: domains\[0\]\.services\[0\]\.url: target "ftp:\/\/x" must be http or https/,
      ],
      [
        "an unknown key",
        [
          ...header,
          `  - domain: a.example.com`,
          `    api_key: ${key}`,
          "    services: [{ name: web, url: x:1 }]",
          "    sevices: []",
        ],
        /hopgate\.yaml:3: domains\[0\]: unknown key "sevices"/,
      ],
      [
        "a domain listed twice",
        [
          ...header,
          `  - { domain: a.example.com, api_key: ${key}, services: [{ name: web, url: "http://127.0.0.1:1" }] }`,
          `  - { domain: a.example.com, api_key: ${key}, services: [{ name: web, url: "http://127.0.0.1:1" }] }`,
        ],
        /hopgate\.yaml:4: domains\[1\]\.domain: "a\.example\.com" is listed twice/,
      ],
      [
        "both api_key and api_key_file",
        [
          ...header,
          `  - domain: a.example.com`,
          `    api_key: ${key}`,
          "    api_key_file: k",
          "    services: [{ name: web, url: x:1 }]",
        ],
        /hopgate\.yaml:4: domains\[0\]\.api_key: set exactly one of api_key and api_key_file/,
      ],
      [
        "an unset environment variable",
        [...header, "  - domain: a.example.com", "    api_key: ${HOPGATE_TEST_UNSET_VARIABLE}"],
        /hopgate\.yaml:4: environment variable HOPGATE_TEST_UNSET_VARIABLE .* is not set/,
      ],
      [
        "an unreadable key file",
        [
          ...header,
          "  - domain: a.example.com",
          "    api_key_file: missing.key",
          "    services: [{ name: web, url: x:1 }]",
        ],
        /hopgate\.yaml:4: domains\[0\]\.api_key_file: key file "missing\.key" cannot be read/,
      ],
      [
        "a negative timeout",
        [
          ...header,
          `  - domain: a.example.com`,
          `    api_key: ${key}`,
          "    services:",
          "      - name: web",
          "        url: http://127.0.0.1:1",
          "        timeout_seconds: -1",
        ],
        /hopgate\.yaml:8: domains\[0\]\.services\[0\]\.timeout_seconds: must be more than 0/,
      ],
    ];
    for (const [name, lines, error] of cases) {
      it(`for ${name}`, async (t) => {
        const path = join(await tempDir(t), "hopgate.yaml");
        await writeFile(path, lines.join("\n"));
        assert.throws(() => loadClientFile(path, {}), error);
      });
    }
  });
});
