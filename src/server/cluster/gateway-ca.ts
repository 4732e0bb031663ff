// @peculiar/x509 2.x needs the Reflect metadata API (its README: "Reflect Polyfill Required").
import "reflect-metadata";
import { webcrypto, X509Certificate } from "node:crypto";
import * as x509 from "@peculiar/x509";
import { sql, type Kysely } from "kysely";
import type { CertificatePair } from "../certs/certificate-pair.js";
import type { StoreDialect, StoreSchema } from "../store/schema.js";

const EC_P256 = { name: "ECDSA", namedCurve: "P-256" } as const;
const SIGNING = { name: "ECDSA", hash: "SHA-256" } as const;
const DAY_MS = 24 * 60 * 60 * 1000;
const CA_VALIDITY_DAYS = 3650;
const CLOCK_SKEW_MS = 60 * 60 * 1000;
/** pg_advisory_xact_lock(0x486f7047 "HopG", 0x50656572 "Peer"): one creator of the CA. */
const CA_LOCK = [0x486f7047, 0x50656572] as const;
/** The reserved name under which a server's peer certificate names its registry id. */
const PEER_NAME_SUFFIX = ".peer.hopgate.invalid";
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The gateway's private CA: signs peer certificates, and is the only CA a peer link trusts. */
export type GatewayCa = CertificatePair;

/**
 * The gateway CA from the store, created by the first server that finds none. On PostgreSQL the
 * creation runs under a transaction-level advisory lock, so servers starting together make one
 * CA; the row's key `id = 1` would refuse a second one anyway.
 */
export async function loadGatewayCa(db: Kysely<StoreSchema>, dialect: StoreDialect): Promise<GatewayCa> {
  return db.transaction().execute(async (tx) => {
    if (dialect === "postgres")
      await sql`select pg_advisory_xact_lock(${CA_LOCK[0]}, ${CA_LOCK[1]})`.execute(tx);
    const row = await tx.selectFrom("gateway_ca").selectAll().where("id", "=", 1).executeTakeFirst();
    if (row) return { certificatePem: row.certificate_pem, privateKeyPem: row.private_key_pem };
    const ca = await createCa();
    await tx
      .insertInto("gateway_ca")
      .values({
        id: 1,
        certificate_pem: ca.certificatePem,
        private_key_pem: ca.privateKeyPem,
        created_at: new Date().toISOString(),
      })
      .execute();
    return ca;
  });
}

async function createCa(): Promise<GatewayCa> {
  const keys = await webcrypto.subtle.generateKey(EC_P256, true, ["sign", "verify"]);
  const nowMs = Date.now();
  const certificate = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: randomSerial(),
      name: [{ CN: ["HopGate gateway peer CA"] }],
      notBefore: new Date(nowMs - CLOCK_SKEW_MS),
      notAfter: new Date(nowMs + CA_VALIDITY_DAYS * DAY_MS),
      keys,
      signingAlgorithm: SIGNING,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, webcrypto),
      ],
    },
    webcrypto,
  );
  return {
    certificatePem: certificate.toString("pem") + "\n",
    privateKeyPem: await pemOfKey(keys.privateKey),
  };
}

/**
 * A peer certificate for the server `serverId`, signed by the gateway CA: its only name is
 * `<serverId>.peer.hopgate.invalid` (a reserved TLD, RFC 6761 §6.4, never a visitor's host), usable
 * both to serve the peer listener and as the client certificate of the links this server dials.
 */
export async function issuePeerCertificate(
  ca: GatewayCa,
  serverId: string,
  validityMs: number,
): Promise<CertificatePair> {
  const caCertificate = new x509.X509Certificate(ca.certificatePem);
  const caKey = await webcrypto.subtle.importKey(
    "pkcs8",
    x509.PemConverter.decodeFirst(ca.privateKeyPem),
    EC_P256,
    false,
    ["sign"],
  );
  const keys = await webcrypto.subtle.generateKey(EC_P256, true, ["sign", "verify"]);
  const nowMs = Date.now();
  const name = peerServerName(serverId);
  const certificate = await x509.X509CertificateGenerator.create(
    {
      serialNumber: randomSerial(),
      subject: [{ CN: [name] }],
      issuer: caCertificate.subjectName,
      notBefore: new Date(nowMs - CLOCK_SKEW_MS),
      notAfter: new Date(nowMs + validityMs),
      publicKey: keys.publicKey,
      signingKey: caKey,
      signingAlgorithm: SIGNING,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([
          x509.ExtendedKeyUsage.serverAuth,
          x509.ExtendedKeyUsage.clientAuth,
        ]),
        new x509.SubjectAlternativeNameExtension([{ type: "dns", value: name }]),
        await x509.AuthorityKeyIdentifierExtension.create(caCertificate, false, webcrypto),
      ],
    },
    webcrypto,
  );
  return {
    certificatePem: certificate.toString("pem") + "\n",
    privateKeyPem: await pemOfKey(keys.privateKey),
  };
}

/** The TLS server name of the peer listener of `serverId` (what its certificate names). */
export function peerServerName(serverId: string): string {
  return `${serverId}${PEER_NAME_SUFFIX}`;
}

/**
 * The registry id a verified peer certificate names, or undefined when it names none: exactly one
 * subjectAltName, a dNSName `<uuid>.peer.hopgate.invalid`. The chain must have been verified first.
 */
export function peerIdOf(certificateDer: Buffer | undefined): string | undefined {
  if (!certificateDer || certificateDer.length === 0) return undefined;
  const names = new X509Certificate(certificateDer).subjectAltName?.split(", ") ?? [];
  if (names.length !== 1 || !names[0]!.startsWith("DNS:") || !names[0]!.endsWith(PEER_NAME_SUFFIX))
    return undefined;
  const id = names[0]!.slice(4, -PEER_NAME_SUFFIX.length);
  return UUID.test(id) ? id : undefined;
}

async function pemOfKey(key: webcrypto.CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await webcrypto.subtle.exportKey("pkcs8", key), "PRIVATE KEY") + "\n";
}

/** 16 random bytes with the high bit cleared: a positive serial (RFC 5280 §4.1.2.2). */
function randomSerial(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] = (bytes[0] ?? 0) & 0x7f;
  return Buffer.from(bytes).toString("hex");
}
