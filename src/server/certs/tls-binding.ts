import type { SecureContext, Server } from "node:tls";
import type { Logger } from "../../lib/logger.js";
import type { CertificateProvider } from "./certificate-provider.js";

type SniCallback = (
  servername: string,
  callback: (error: Error | null, context?: SecureContext) => void,
) => void;

/**
 * The `SNICallback` option of `tls.createServer` / `http2.createSecureServer`. Node calls it only
 * when the client sends a server name; a provider failure is logged and answered with the default
 * context so that one bad name never takes a handshake down with an exception.
 */
export function createSniCallback(provider: CertificateProvider, logger: Logger): SniCallback {
  const log = logger.child({ component: "certs" });
  return (servername, callback) => {
    provider.secureContextFor(servername).then(
      (context) => callback(null, context ?? provider.defaultContext()),
      (error: unknown) => {
        log.error({ err: error, servername }, "certificate lookup failed; serving the default certificate");
        callback(null, provider.defaultContext());
      },
    );
  };
}

/**
 * Keeps the server's own context (what clients without SNI get) equal to the provider's default
 * certificate, now and whenever it changes. Returns a function that stops following changes.
 * `setSecureContext` replaces every context option, so `extra` carries any others the server uses.
 */
export function bindDefaultCertificate(
  server: Server,
  provider: CertificateProvider,
  extra: Record<string, unknown> = {},
): () => void {
  const apply = () => {
    const pair = provider.defaultCertificate();
    server.setSecureContext({ ...extra, cert: pair.certificatePem, key: pair.privateKeyPem });
  };
  apply();
  return provider.onDefaultChange(apply);
}
