import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { promisify } from "node:util";
import { spawnHopgate } from "../helpers/hopgate-process.js";
import { sendRequest } from "../helpers/http-request.js";
import { tempDir } from "../helpers/temp-dir.js";
import { tlsFixture } from "../helpers/tls-fixture.js";

const ADMIN_API_KEY = "key-from-a-secret-file-0123456789";
const DOMAIN = "gateway.test";

describe("hopgate server with HOP_ADMIN_API_KEY_FILE", () => {
  it("accepts the admin key read from the file, which neither its argv nor its environment holds", async (t) => {
    const dir = await tempDir(t);
    const certFile = join(dir, "cert.pem");
    const keyFile = join(dir, "key.pem");
    const secretFile = join(dir, "admin_key");
    await writeFile(certFile, tlsFixture().cert);
    await writeFile(keyFile, tlsFixture().key);
    // As `echo "$KEY" > file` writes it: one trailing newline, not part of the key.
    await writeFile(secretFile, `${ADMIN_API_KEY}\n`, { mode: 0o600 });
    const server = spawnHopgate(
      t,
      [
        "server",
        ...["--domain", DOMAIN, "--https-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0"],
        ...["--metrics-listen", "off", "--tls", "files", "--tls-cert", certFile, "--tls-key", keyFile],
        ...["--data-dir", join(dir, "data"), "--debug"],
      ],
      { HOP_ADMIN_API_KEY_FILE: secretFile },
    );
    const listening = await server.waitForLine((line) => line.msg === "HopGate server listening", 120_000);
    const register = (key: string) =>
      sendRequest(`https://127.0.0.1:${Number(listening.https_port)}/api/v1/admin/domains/register`, {
        method: "POST",
        ca: tlsFixture().cert,
        headers: { host: DOMAIN, authorization: `Bearer ${key}`, "content-type": "application/json" },
        body: JSON.stringify({ domain: "app.example.com" }),
      });

    const accepted = await register(ADMIN_API_KEY);
    assert.ok(accepted.status === 200 || accepted.status === 201, `${accepted.status} ${accepted.text}`);
    assert.match(accepted.json<{ client_api_key: string }>().client_api_key, /^[0-9a-f]{64}$/);
    const other = await register("another-admin-key-0123456789");
    assert.equal(other.status, 401, "another key is refused: the file's key is the one in force");

    const pid = server.child.pid;
    assert.ok(pid !== undefined);
    const { stdout: psLine } = await promisify(execFile)("ps", ["-ww", "-o", "args=", "-p", String(pid)]);
    assert.match(psLine, /server/, "ps shows this server's command line");
    assert.ok(!psLine.includes(ADMIN_API_KEY), psLine);
    const cmdline = await readFile(`/proc/${pid}/cmdline`, "utf8");
    assert.ok(cmdline.includes("server") && !cmdline.includes(ADMIN_API_KEY), cmdline);
    const environ = await readFile(`/proc/${pid}/environ`, "utf8");
    assert.ok(environ.includes(`HOP_ADMIN_API_KEY_FILE=${secretFile}`), "the environment names the file");
    assert.ok(!environ.includes(ADMIN_API_KEY), "the environment does not hold the key");
    assert.ok(!server.output().includes(ADMIN_API_KEY), "nor does the log");
  });
});
