import { X509Certificate, createPrivateKey } from "node:crypto";
import { isIP } from "node:net";
import { createSecureContext, type SecureContext } from "node:tls";

/** A PEM certificate chain (leaf first) and the PEM private key of its leaf. */
export interface CertificatePair {
  readonly certificatePem: string;
  readonly privateKeyPem: string;
}

/** What the server needs to know about a leaf certificate to serve and renew it. */
export interface CertificateFacts {
  readonly notBeforeMs: number;
  readonly notAfterMs: number;
  /** Upper-case hexadecimal, as node:crypto reports it. */
  readonly serialNumber: string;
  /** DNS names and IP addresses of the subjectAltName extension. */
  readonly names: readonly string[];
}

/** One entry of a provider's `expiries()`, for `hopgate_certificate_expiry_timestamp_seconds{domain}`. */
export interface CertificateExpiry {
  readonly domain: string;
  readonly notAfterMs: number;
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** The certificates of a PEM chain, in order; empty when there is none. */
export function splitPemChain(pem: string): string[] {
  return pem.match(PEM_CERTIFICATE) ?? [];
}

/** Facts of the chain's first (leaf) certificate. Throws when `pem` holds no parsable certificate. */
export function describeCertificate(pem: string): CertificateFacts {
  const leaf = splitPemChain(pem)[0];
  if (leaf === undefined) throw new Error("no PEM certificate found");
  const x509 = new X509Certificate(leaf);
  return {
    notBeforeMs: x509.validFromDate.getTime(),
    notAfterMs: x509.validToDate.getTime(),
    serialNumber: x509.serialNumber,
    names: parseSubjectAltNames(x509.subjectAltName),
  };
}

/**
 * Throws when the key cannot be parsed or does not belong to the chain's leaf certificate; the
 * message says which (callers add file names).
 */
export function assertPairMatches(pair: CertificatePair): void {
  const leaf = splitPemChain(pair.certificatePem)[0];
  if (leaf === undefined) throw new Error("no PEM certificate found");
  const certificate = new X509Certificate(leaf);
  const key = createPrivateKey(pair.privateKeyPem);
  if (!certificate.checkPrivateKey(key)) {
    throw new Error("the private key does not belong to the certificate");
  }
}

export function secureContextOf(pair: CertificatePair): SecureContext {
  return createSecureContext({ cert: pair.certificatePem, key: pair.privateKeyPem });
}

/**
 * `DNS:a.example, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1` (node:crypto's rendering) →
 * `["a.example", "127.0.0.1", "::1"]` (IPv6 in its short form).
 */
function parseSubjectAltNames(rendered: string | undefined): string[] {
  if (!rendered) return [];
  return rendered
    .split(",")
    .map((entry) => entry.trim())
    .map((entry) => /^(?:DNS|IP Address):(.+)$/.exec(entry)?.[1] ?? "")
    .filter((name) => name !== "")
    .map((name) =>
      isIP(name) === 6 ? new URL(`http://[${name}]/`).hostname.slice(1, -1) : name.toLowerCase(),
    );
}
