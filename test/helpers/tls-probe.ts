import { checkServerIdentity, connect, createServer, type Server } from "node:tls";
import type { AddressInfo } from "node:net";
import { silentLogger } from "../../src/lib/logger.js";
import type { CertificateProvider } from "../../src/server/certs/certificate-provider.js";
import { bindDefaultCertificate, createSniCallback } from "../../src/server/certs/tls-binding.js";

export interface PeerCertificate {
  readonly serialNumber: string;
  readonly subjectAltName: string;
  readonly notAfterMs: number;
}

/**
 * Completes a real TLS handshake with `port` as a client that trusts only `ca`, verifying the
 * chain and (unless `servername` is null) the name, like any HTTPS client would. Rejects on any
 * verification failure. `servername` null sends no SNI.
 */
export function tlsHandshake(
  port: number,
  options: { host?: string; servername: string | null; ca: string | string[]; checkName?: string },
): Promise<PeerCertificate> {
  return new Promise((resolve, reject) => {
    const socket = connect({
      port,
      host: options.host ?? "127.0.0.1",
      ca: options.ca,
      ...(options.servername === null ? {} : { servername: options.servername }),
      checkServerIdentity: (_host, certificate) => {
        const name = options.checkName ?? options.servername ?? options.host ?? "127.0.0.1";
        return checkServerIdentity(name, certificate);
      },
    });
    socket.once("secureConnect", () => {
      const peer = socket.getPeerCertificate();
      socket.destroy();
      resolve({
        serialNumber: peer.serialNumber.toUpperCase(),
        subjectAltName: peer.subjectaltname ?? "",
        notAfterMs: Date.parse(peer.valid_to),
      });
    });
    socket.once("error", reject);
  });
}

/** A TLS server on 127.0.0.1:0 whose certificates come from `provider`, wired as the lead's listener is. */
export async function startTlsServer(
  cleanup: (fn: () => unknown) => void,
  provider: CertificateProvider,
  host = "127.0.0.1",
): Promise<number> {
  const server: Server = createServer(
    { SNICallback: createSniCallback(provider, silentLogger()) },
    (socket) => socket.end("hello\n"),
  );
  const unbind = bindDefaultCertificate(server, provider);
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  cleanup(() => {
    unbind();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return (server.address() as AddressInfo).port;
}
