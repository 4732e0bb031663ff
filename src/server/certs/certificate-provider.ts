import type { SecureContext } from "node:tls";
import type { CertificateExpiry, CertificatePair } from "./certificate-pair.js";

/**
 * Where the TLS listener gets its certificates (HOP_SERVER_TLS=self-signed|files|acme). The
 * composition root registers one implementation per source and wires the chosen one with
 * `createSniCallback` and `bindDefaultCertificate` (tls-binding.ts).
 */
export interface CertificateProvider {
  /**
   * Body of the SNI callback: the context for `servername` (already lowercased by the caller or
   * not: implementations normalize), or undefined to serve `defaultContext()`. Answers from memory
   * except when an implementation must first obtain a certificate (ACME on demand).
   */
  secureContextFor(servername: string): Promise<SecureContext | undefined>;
  /** Context for clients that send no SNI or an unknown name. */
  defaultContext(): SecureContext;
  /** The PEM pair behind `defaultContext()`, for `tls.Server#setSecureContext` (no-SNI clients). */
  defaultCertificate(): CertificatePair;
  /** Calls `listener` whenever `defaultCertificate()` changes; returns a function that unsubscribes. */
  onDefaultChange(listener: () => void): () => void;
  /** notAfter of every certificate served, for `hopgate_certificate_expiry_timestamp_seconds{domain}`. */
  expiries(): CertificateExpiry[];
  /** Loads or creates what must exist before the first handshake; never waits for a CA. */
  start(): Promise<void>;
  /** Cancels timers and watchers; in-flight work is abandoned. */
  stop(): Promise<void>;
}
