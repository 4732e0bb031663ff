import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, it, type TestContext } from "node:test";
import { spawnHopgate } from "../helpers/hopgate-process.js";
import { tempDir } from "../helpers/temp-dir.js";
import { tlsFixture } from "../helpers/tls-fixture.js";

const RECORDER = fileURLToPath(new URL("../helpers/record-loaded-modules.ts", import.meta.url));

/** Code a server loads only when its configuration needs it (docs/performance.md, changes 4 and 20). */
const HEAVY = [
  { name: "@peculiar/x509", source: /node_modules\/@peculiar\/x509\// },
  { name: "asn1js", source: /node_modules\/asn1js\// },
  { name: "acme-client", source: /node_modules\/acme-client\// },
  { name: "pg", source: /node_modules\/pg\// },
  { name: "the gateway CA", source: /src\/server\/cluster\/gateway-ca\.ts$/ },
  { name: "the peer relay", source: /src\/server\/cluster\/peer-relay\.ts$/ },
  { name: "the admin API", source: /src\/server\/admin\/admin-api\.ts$/ },
  { name: "the client's config file reader (YAML)", source: /node_modules\/yaml\// },
];

/**
 * The sources (from the bundle's source maps) of every chunk of the compiled CLI that a
 * `hopgate server` with `tls` loaded by the time it listened.
 */
async function sourcesLoaded(t: TestContext, tls: Record<string, string>): Promise<string[]> {
  const dir = await tempDir(t);
  const loaded = join(dir, "loaded.txt");
  await writeFile(loaded, "");
  const server = spawnHopgate(t, ["server"], {
    HOP_SERVER_DOMAIN: "localhost",
    HOP_SERVER_HTTPS_LISTEN: "127.0.0.1:0",
    HOP_SERVER_HTTP_LISTEN: "127.0.0.1:0",
    HOP_DATA_DIR: join(dir, "data"),
    HOP_METRICS_LISTEN: "off",
    HOP_ADMIN_API_KEY: "k".repeat(40),
    HOPGATE_ALLOCATOR: "system",
    HOPGATE_TEST_LOADED_MODULES: loaded,
    NODE_OPTIONS: `--import=${RECORDER}`,
    ...tls,
  });
  await server.waitForLine((line) => line.msg === "HopGate server listening");
  const chunks = readFileSync(loaded, "utf8")
    .split("\n")
    .filter((url) => url.endsWith(".js"));
  assert.ok(
    chunks.some((url) => url.endsWith("/dist/cli/main.js")),
    `the recorder saw the CLI: ${chunks.join(" ")}`,
  );
  return chunks.flatMap((url) => {
    const map = JSON.parse(readFileSync(`${fileURLToPath(url)}.map`, "utf8")) as { sources: string[] };
    return map.sources;
  });
}

describe("modules a server does not need are not loaded", () => {
  it("a server with certificate files, the embedded store and no peers loads no X.509, ACME, PostgreSQL, peer, admin or YAML code", async (t) => {
    const dir = await tempDir(t);
    await writeFile(join(dir, "cert.pem"), tlsFixture().cert);
    await writeFile(join(dir, "key.pem"), tlsFixture().key);
    const sources = await sourcesLoaded(t, {
      HOP_SERVER_TLS: "files",
      HOP_SERVER_TLS_CERT: join(dir, "cert.pem"),
      HOP_SERVER_TLS_KEY: join(dir, "key.pem"),
    });
    for (const { name, source } of HEAVY)
      assert.ok(!sources.some((path) => source.test(path)), `${name} was loaded at start`);
  });

  it("the check sees a module when it is loaded: a self-signed server loads @peculiar/x509", async (t) => {
    const sources = await sourcesLoaded(t, { HOP_SERVER_TLS: "self-signed" });
    assert.ok(sources.some((path) => /node_modules\/@peculiar\/x509\//.test(path)));
  });
});
