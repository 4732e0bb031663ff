import assert from "node:assert/strict";
import { stat } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { silentLogger } from "../../src/lib/logger.js";
import { createSelfSignedProvider } from "../../src/server/certs/self-signed-provider.js";
import { lifoCleanup } from "../helpers/lifo-cleanup.js";
import { tempDir } from "../helpers/temp-dir.js";
import { startTlsServer, tlsHandshake } from "../helpers/tls-probe.js";

describe("self-signed certificate provider", () => {
  it("serves one certificate that a client trusting its PEM accepts for every name it lists", async (t) => {
    const provider = createSelfSignedProvider({
      domain: "hop.example.test",
      extraNames: ["extra.example.test"],
      logger: silentLogger(),
    });
    await provider.start();
    t.after(() => provider.stop());
    const port = await startTlsServer(lifoCleanup(t), provider);
    const ca = provider.certificatePem;
    const names = ["hop.example.test", "extra.example.test", "localhost"];
    const serials = new Set<string>();
    for (const servername of names) serials.add((await tlsHandshake(port, { servername, ca })).serialNumber);
    serials.add((await tlsHandshake(port, { servername: null, ca, checkName: "127.0.0.1" })).serialNumber);
    assert.equal(serials.size, 1, "the same certificate for every name and without SNI");

    const port6 = await startTlsServer(lifoCleanup(t), provider, "::1");
    await tlsHandshake(port6, { host: "::1", servername: null, ca, checkName: "::1" });

    await assert.rejects(
      tlsHandshake(port, { servername: "other.example.test", ca }),
      /does not match|altnames/i,
      "a name outside its subjectAltName fails verification",
    );
    await assert.rejects(
      tlsHandshake(port, { servername: "hop.example.test", ca: (await otherCa()).certificatePem }),
      /self[- ]signed|unable to verify|certificate/i,
      "a client trusting another CA refuses it",
    );
    const [expiry] = provider.expiries();
    assert.equal(expiry?.domain, "hop.example.test");
    assert.ok((expiry?.notAfterMs ?? 0) > Date.now() + 300 * 24 * 3600 * 1000);
  });

  it("keeps the same certificate across restarts when persisted, and replaces it when names change", async (t) => {
    const dir = await tempDir(t);
    const start = async (extraNames: string[]) => {
      const provider = createSelfSignedProvider({
        domain: "hop.example.test",
        extraNames,
        persistDir: dir,
        logger: silentLogger(),
      });
      await provider.start();
      await provider.stop();
      return provider.certificatePem;
    };
    const first = await start([]);
    assert.equal(await start([]), first);
    assert.equal((await stat(join(dir, "self-signed-key.pem"))).mode & 0o777, 0o600, "the key is private");
    const widened = await start(["new.example.test"]);
    assert.notEqual(widened, first);
    assert.equal(await start(["new.example.test"]), widened);
  });
});

async function otherCa() {
  const provider = createSelfSignedProvider({ domain: "hop.example.test", logger: silentLogger() });
  await provider.start();
  return provider;
}
