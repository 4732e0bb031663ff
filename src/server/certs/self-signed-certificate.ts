// @peculiar/x509 2.x needs the Reflect metadata API (its README: "Reflect Polyfill Required").
import "reflect-metadata";
import { webcrypto } from "node:crypto";
import { isIP } from "node:net";
import * as x509 from "@peculiar/x509";
import type { CertificatePair } from "./certificate-pair.js";

export interface SelfSignedRequest {
  /** DNS names and IP addresses; the first is also the subject's common name. */
  readonly names: readonly string[];
  readonly validityDays: number;
  /** Start of validity; defaults to now. Backdated by an hour to tolerate clock skew. */
  readonly nowMs?: number;
}

const EC_P256 = { name: "ECDSA", namedCurve: "P-256" } as const;
const SIGNING = { name: "ECDSA", hash: "SHA-256" } as const;
const CLOCK_SKEW_MS = 60 * 60 * 1000;

/**
 * Generates an EC P-256 certificate signed by its own key, with the names as subjectAltName
 * (RFC 5280 §4.2.1.6: DNS names as dNSName, addresses as iPAddress). It is a server (leaf)
 * certificate that a client may also trust directly as its own CA (curl `--cacert`, Node `ca`).
 */
export async function generateSelfSignedCertificate(request: SelfSignedRequest): Promise<CertificatePair> {
  const first = request.names[0];
  if (first === undefined) throw new Error("a self-signed certificate needs at least one name");
  const keys = await webcrypto.subtle.generateKey(EC_P256, true, ["sign", "verify"]);
  const nowMs = request.nowMs ?? Date.now();
  const certificate = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: randomSerial(),
      name: [{ CN: [first] }, { O: ["HopGate self-signed"] }],
      notBefore: new Date(nowMs - CLOCK_SKEW_MS),
      notAfter: new Date(nowMs + request.validityDays * 24 * 60 * 60 * 1000),
      keys,
      signingAlgorithm: SIGNING,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
        new x509.SubjectAlternativeNameExtension(
          request.names.map((name) =>
            isIP(name) ? { type: "ip", value: name } : { type: "dns", value: name },
          ),
        ),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, webcrypto),
        // Lets verifiers tell apart several self-signed certificates with the same subject.
        await x509.AuthorityKeyIdentifierExtension.create(keys.publicKey, false, webcrypto),
      ],
    },
    webcrypto,
  );
  const pkcs8 = await webcrypto.subtle.exportKey("pkcs8", keys.privateKey);
  return {
    certificatePem: certificate.toString("pem") + "\n",
    privateKeyPem: x509.PemConverter.encode(pkcs8, "PRIVATE KEY") + "\n",
  };
}

/** 16 random bytes with the high bit cleared: a positive serial (RFC 5280 §4.1.2.2). */
function randomSerial(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] = (bytes[0] ?? 0) & 0x7f;
  return Buffer.from(bytes).toString("hex");
}
