import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { startBackend } from "../helpers/backend.js";
import { freePort } from "../helpers/free-port.js";
import { startClientProcess, startServerProcess } from "../helpers/server-process.js";
import { tempDir } from "../helpers/temp-dir.js";
import { visit } from "../helpers/visit.js";

const DOMAIN = "advertised.example.test";

// v2 clients of a gateway dial each server by its advertise address (docs/scale-out.md): the
// advertise host is one of the server's own names, where tunnel calls are answered as on the
// main domain, not a tenant's host.
describe("the advertise address's host", () => {
  it("takes tunnel calls as the main domain does (no --debug), by its DNS name", async (t) => {
    const port = await freePort();
    const server = await startServerProcess(
      t,
      await tempDir(t),
      { HOP_SERVER_ADVERTISE_ADDR: `localhost:${port}` },
      `127.0.0.1:${port}`,
      false,
    );
    const backend = await startBackend(t, (_req, res) => res.end("served"));
    const key = await server.register(DOMAIN);
    const client = startClientProcess(t, {
      serverPort: port,
      caFile: server.caFile,
      domain: DOMAIN,
      apiKey: key,
      backendUrl: backend.url,
      extraArgs: ["--server", `https://localhost:${port}`],
    });
    await client.waitForLine((line) => line.msg === "tunnel accepted");
    const answer = await visit(port, DOMAIN, "/");
    assert.equal(answer.status, 200);
    assert.equal(answer.body.toString(), "served");
  });
});
