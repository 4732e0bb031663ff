import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { writeFile } from "node:fs/promises";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import tls, { type TLSSocket } from "node:tls";
import { join } from "node:path";
import { describe, it } from "node:test";
import { silentLogger } from "../../src/lib/logger.js";
import type { CertificateProvider } from "../../src/server/certs/certificate-provider.js";
import { createFileProvider } from "../../src/server/certs/file-provider.js";
import { createSelfSignedProvider } from "../../src/server/certs/self-signed-provider.js";
import { generateSelfSignedCertificate } from "../../src/server/certs/self-signed-certificate.js";
import { bindDefaultCertificate, createSniCallback } from "../../src/server/certs/tls-binding.js";
import { lifoCleanup } from "../helpers/lifo-cleanup.js";
import { tempDir } from "../helpers/temp-dir.js";
import { startTlsServer, tlsHandshake } from "../helpers/tls-probe.js";

/** Serial of the certificate a client got over HTTP/2 or HTTP/1.1, with or without SNI. */
function servedSerial(port: number, ca: string[], protocol: "h2" | "http/1.1", servername?: string) {
  return new Promise<{ serial: string; alpn: string | false | null }>((resolve, reject) => {
    if (protocol === "h2") {
      const session = http2.connect(`https://127.0.0.1:${port}`, {
        ca,
        ...(servername ? { servername } : {}),
        checkServerIdentity: () => undefined,
      });
      session.once("error", reject);
      session.once("connect", () => {
        const socket = session.socket as TLSSocket;
        resolve({ serial: socket.getPeerCertificate().serialNumber, alpn: socket.alpnProtocol ?? null });
        session.close();
      });
      return;
    }
    const socket = tls.connect({
      host: "127.0.0.1",
      port,
      ca,
      ALPNProtocols: ["http/1.1"],
      checkServerIdentity: () => undefined,
      ...(servername ? { servername } : {}),
    });
    let response = "";
    socket.setEncoding("utf8").on("data", (chunk: string) => (response += chunk));
    socket.once("error", reject);
    socket.once("secureConnect", () => {
      const serial = socket.getPeerCertificate().serialNumber;
      const alpn = socket.alpnProtocol ?? null;
      socket.end("GET / HTTP/1.1\r\nHost: edge.example.test\r\nConnection: close\r\n\r\n");
      socket.once("end", () =>
        response.endsWith("ok") ? resolve({ serial, alpn }) : reject(new Error(response)),
      );
    });
  });
}

describe("TLS binding of a certificate provider to an HTTP/2 server", () => {
  it("serves the provider's certificates over h2 and HTTP/1.1, with and without SNI, and follows changes", async (t) => {
    const dir = await tempDir(t);
    const first = await generateSelfSignedCertificate({ names: ["edge.example.test"], validityDays: 5 });
    const second = await generateSelfSignedCertificate({ names: ["edge.example.test"], validityDays: 5 });
    const certFile = join(dir, "cert.pem");
    const keyFile = join(dir, "key.pem");
    await writeFile(certFile, first.certificatePem);
    await writeFile(keyFile, first.privateKeyPem);
    const provider = createFileProvider({ certFile, keyFile, watchIntervalMs: 0, logger: silentLogger() });
    await provider.start();
    t.after(() => provider.stop());

    const server = http2.createSecureServer(
      { allowHTTP1: true, SNICallback: createSniCallback(provider, silentLogger()) },
      (_req, res) => res.end("ok"),
    );
    const unbind = bindDefaultCertificate(server, provider);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    t.after(() => {
      unbind();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    });
    const port = (server.address() as AddressInfo).port;
    const ca = [first.certificatePem, second.certificatePem];
    const serialOf = (pem: string) => new X509Certificate(pem).serialNumber;
    const cases = [
      ["h2", "edge.example.test"],
      ["h2", undefined],
      ["http/1.1", "edge.example.test"],
      ["http/1.1", undefined],
    ] as const;
    for (const [protocol, servername] of cases) {
      const got = await servedSerial(port, ca, protocol, servername);
      assert.equal(got.serial, serialOf(first.certificatePem), `${protocol} ${servername ?? "no SNI"}`);
      assert.equal(got.alpn, protocol === "h2" ? "h2" : "http/1.1");
    }

    await writeFile(certFile, second.certificatePem);
    await writeFile(keyFile, second.privateKeyPem);
    assert.equal(await provider.reload(), true);
    for (const [protocol, servername] of cases) {
      const got = await servedSerial(port, ca, protocol, servername);
      assert.equal(
        got.serial,
        serialOf(second.certificatePem),
        `after reload: ${protocol} ${servername ?? "no SNI"}`,
      );
      assert.equal(got.alpn, protocol === "h2" ? "h2" : "http/1.1", "ALPN survives setSecureContext");
    }
  });

  it("serves the default certificate when the provider's lookup fails", async (t) => {
    const inner = createSelfSignedProvider({ domain: "edge.example.test", logger: silentLogger() });
    await inner.start();
    const failing: CertificateProvider = {
      ...inner,
      secureContextFor: () => Promise.reject(new Error("store unavailable")),
    };
    const port = await startTlsServer(lifoCleanup(t), failing);
    const peer = await tlsHandshake(port, { servername: "edge.example.test", ca: inner.certificatePem });
    assert.match(peer.subjectAltName, /DNS:edge\.example\.test/);
  });
});
