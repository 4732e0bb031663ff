import assert from "node:assert/strict";
import { chmod, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { isHopGateError } from "../../src/lib/hopgate-error.js";
import { silentLogger } from "../../src/lib/logger.js";
import { createFileProvider, type FileProviderOptions } from "../../src/server/certs/file-provider.js";
import { generateSelfSignedCertificate } from "../../src/server/certs/self-signed-certificate.js";
import type { CertificatePair } from "../../src/server/certs/certificate-pair.js";
import { lifoCleanup } from "../helpers/lifo-cleanup.js";
import { tempDir } from "../helpers/temp-dir.js";
import { startTlsServer, tlsHandshake } from "../helpers/tls-probe.js";

const NAMES = ["files.example.test", "localhost"];

async function writePair(dir: string, pair: CertificatePair, prefix = "") {
  const certFile = join(dir, `${prefix}cert.pem`);
  const keyFile = join(dir, `${prefix}key.pem`);
  await writeFile(certFile, pair.certificatePem);
  await writeFile(keyFile, pair.privateKeyPem);
  return { certFile, keyFile };
}

/** Replaces a file the way deploy tools do: write a sibling, then rename over it. */
async function replaceFile(path: string, content: string) {
  await writeFile(`${path}.new`, content);
  await rename(`${path}.new`, path);
}

async function startedProvider(t: TestContext, options: Omit<FileProviderOptions, "logger">) {
  const provider = createFileProvider({ watchIntervalMs: 0, ...options, logger: silentLogger() });
  await provider.start();
  t.after(() => provider.stop());
  return provider;
}

async function startError(options: Omit<FileProviderOptions, "logger">): Promise<Error> {
  try {
    const provider = createFileProvider({ watchIntervalMs: 0, ...options, logger: silentLogger() });
    await provider.start();
    await provider.stop();
  } catch (error) {
    return error as Error;
  }
  assert.fail("start() succeeded");
}

async function waitFor(condition: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) assert.fail("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe("certificate files provider", () => {
  it("serves the PEM files to a client that trusts them", async (t) => {
    const dir = await tempDir(t);
    const pair = await generateSelfSignedCertificate({ names: NAMES, validityDays: 30 });
    const provider = await startedProvider(t, await writePair(dir, pair));
    const port = await startTlsServer(lifoCleanup(t), provider);
    const peer = await tlsHandshake(port, { servername: "files.example.test", ca: pair.certificatePem });
    const noSni = await tlsHandshake(port, {
      servername: null,
      ca: pair.certificatePem,
      checkName: "localhost",
    });
    assert.equal(peer.serialNumber, noSni.serialNumber);
    assert.equal(provider.expiries()[0]?.domain, "files.example.test");
  });

  it("rejects missing, unreadable, malformed and mismatched files with one config_invalid line", async (t) => {
    const dir = await tempDir(t);
    const good = await writePair(
      dir,
      await generateSelfSignedCertificate({ names: NAMES, validityDays: 30 }),
    );
    const other = await writePair(
      dir,
      await generateSelfSignedCertificate({ names: NAMES, validityDays: 30 }),
      "other-",
    );
    const garbage = join(dir, "garbage.pem");
    await writeFile(garbage, "not a pem file\n");
    const unreadable = join(dir, "unreadable.pem");
    await writeFile(unreadable, "x");
    await chmod(unreadable, 0o000);
    const cases: Array<[string, Omit<FileProviderOptions, "logger">, RegExp]> = [
      [
        "no files set",
        { certFile: undefined, keyFile: good.keyFile },
        /needs both HOP_SERVER_TLS_CERT and HOP_SERVER_TLS_KEY/,
      ],
      [
        "missing cert",
        { certFile: join(dir, "nope.pem"), keyFile: good.keyFile },
        /cannot read HOP_SERVER_TLS_CERT file .*nope\.pem: no such file/,
      ],
      [
        "missing key",
        { certFile: good.certFile, keyFile: join(dir, "nokey.pem") },
        /cannot read HOP_SERVER_TLS_KEY file .*nokey\.pem: no such file/,
      ],
      [
        "a directory",
        { certFile: dir, keyFile: good.keyFile },
        /cannot read HOP_SERVER_TLS_CERT file .*: EISDIR/,
      ],
      [
        "no PEM certificate",
        { certFile: garbage, keyFile: good.keyFile },
        /HOP_SERVER_TLS_CERT file .*garbage\.pem holds no PEM certificate/,
      ],
      [
        "no PEM key",
        { certFile: good.certFile, keyFile: garbage },
        /HOP_SERVER_TLS_KEY file .*garbage\.pem holds no readable PEM private key/,
      ],
      [
        "key of another certificate",
        { certFile: good.certFile, keyFile: other.keyFile },
        /other-key\.pem is not the key of the certificate in HOP_SERVER_TLS_CERT file .*cert\.pem/,
      ],
    ];
    if (process.getuid?.() !== 0) {
      cases.push([
        "unreadable",
        { certFile: unreadable, keyFile: good.keyFile },
        /unreadable\.pem: permission denied/,
      ]);
    }
    for (const [name, options, message] of cases) {
      const error = await startError(options);
      assert.ok(isHopGateError(error, "config_invalid"), `${name}: ${String(error)}`);
      assert.match(error.message, message, name);
      assert.doesNotMatch(error.message, /\n/, `${name}: one line`);
    }
  });

  it("reloads on demand (SIGHUP) and keeps the old pair when the new files are bad", async (t) => {
    const dir = await tempDir(t);
    const first = await generateSelfSignedCertificate({ names: NAMES, validityDays: 30 });
    const second = await generateSelfSignedCertificate({ names: NAMES, validityDays: 30 });
    const files = await writePair(dir, first);
    const provider = await startedProvider(t, files);
    const port = await startTlsServer(lifoCleanup(t), provider);
    const ca = [first.certificatePem, second.certificatePem];
    const serial = async (servername: string | null) =>
      (await tlsHandshake(port, { servername, ca, checkName: "localhost" })).serialNumber;
    const firstSerial = await serial("localhost");

    await replaceFile(files.certFile, second.certificatePem); // key not replaced yet: mismatch
    assert.equal(await provider.reload(), false);
    assert.equal(await serial("localhost"), firstSerial, "still the old pair");

    await replaceFile(files.keyFile, second.privateKeyPem);
    assert.equal(await provider.reload(), true);
    const secondSerial = await serial("localhost");
    assert.notEqual(secondSerial, firstSerial);
    assert.equal(await serial(null), secondSerial, "clients without SNI get the new pair too");
  });

  it("picks up changed files by itself when watching", async (t) => {
    const dir = await tempDir(t);
    const first = await generateSelfSignedCertificate({ names: NAMES, validityDays: 30 });
    const second = await generateSelfSignedCertificate({ names: NAMES, validityDays: 30 });
    const files = await writePair(dir, first);
    const provider = await startedProvider(t, { ...files, watchIntervalMs: 50 });
    const port = await startTlsServer(lifoCleanup(t), provider);
    const ca = [first.certificatePem, second.certificatePem];
    const serial = async () => (await tlsHandshake(port, { servername: "localhost", ca })).serialNumber;
    const before = await serial();
    await replaceFile(files.keyFile, second.privateKeyPem);
    await replaceFile(files.certFile, second.certificatePem);
    await waitFor(async () => (await serial()) !== before, 20_000);
  });
});
