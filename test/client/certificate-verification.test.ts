import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { startGateway } from "../helpers/gateway.js";
import { spawnHopgate } from "../helpers/hopgate-process.js";

describe("the client's verification of the server certificate", () => {
  it("stays on with HOP_CLIENT_DEBUG, which only raises the log level, and its failure names --ca-file and --insecure", async (t) => {
    const gateway = await startGateway(t);
    const apiKey = await gateway.register("app.gateway.test");
    const client = spawnHopgate(
      t,
      [
        "client",
        "--server",
        `https://127.0.0.1:${gateway.port}`,
        "--domain",
        "app.gateway.test",
        "--local-target",
        "9",
      ],
      { HOP_CLIENT_API_KEY: apiKey, HOP_CLIENT_DEBUG: "true" },
    );
    const failure = await client.waitForLine(
      (line) => typeof line.msg === "string" && line.msg.includes("certificate"),
      60_000,
    );
    assert.match(String(failure.msg), /--ca-file/);
    assert.match(String(failure.msg), /--insecure/);
    assert.equal(failure.level, "error");
    assert.ok(!client.output().includes("verification is OFF"), client.output());
  });
});
