import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { SecureContext } from "node:tls";
import type { Logger } from "../../lib/logger.js";
import { HopGateError } from "../../lib/hopgate-error.js";
import {
  assertPairMatches,
  describeCertificate,
  secureContextOf,
  type CertificateExpiry,
  type CertificatePair,
} from "./certificate-pair.js";
import type { CertificateProvider } from "./certificate-provider.js";

export interface SelfSignedProviderOptions {
  /** Main domain; first subjectAltName and common name. */
  readonly domain: string;
  /** Further names (e.g. HOP_SERVER_PROXY_DOMAINS); localhost, 127.0.0.1 and ::1 are always added. */
  readonly extraNames?: readonly string[];
  /**
   * Directory where the certificate is kept so that a restart serves the same one (users who
   * trusted it keep trusting it). Generated afresh at every start when omitted.
   */
  readonly persistDir?: string;
  readonly validityDays?: number;
  readonly logger: Logger;
}

export interface SelfSignedProvider extends CertificateProvider {
  /** The certificate, to be trusted as a CA by clients (`hopgate client --ca-file`, curl `--cacert`). */
  readonly certificatePem: string;
}

const ALWAYS = ["localhost", "127.0.0.1", "::1"];
const DEFAULT_VALIDITY_DAYS = 365;
/** A persisted certificate closer than this to expiry is replaced at start. */
const MIN_REMAINING_MS = 30 * 24 * 60 * 60 * 1000;
const CERT_FILE = "self-signed-cert.pem";
const KEY_FILE = "self-signed-key.pem";

/** One self-signed EC P-256 certificate served for every name (development and the demo). */
export function createSelfSignedProvider(options: SelfSignedProviderOptions): SelfSignedProvider {
  const names = [...new Set([options.domain, ...(options.extraNames ?? []), ...ALWAYS])];
  const logger = options.logger.child({ component: "certs" });
  let loaded: { pair: CertificatePair; context: SecureContext; notAfterMs: number } | undefined;

  const current = () => {
    if (!loaded) throw new HopGateError("internal", "self-signed certificate provider used before start()");
    return loaded;
  };

  return {
    get certificatePem() {
      return current().pair.certificatePem;
    },
    secureContextFor: () => Promise.resolve(current().context),
    defaultContext: () => current().context,
    defaultCertificate: () => current().pair,
    onDefaultChange: () => () => undefined,
    expiries: () =>
      [{ domain: options.domain, notAfterMs: current().notAfterMs }] satisfies CertificateExpiry[],
    async start() {
      const pair =
        (options.persistDir ? await readPersisted(options.persistDir, names, logger) : undefined) ??
        (await createAndPersist(names, options, logger));
      loaded = {
        pair,
        context: secureContextOf(pair),
        notAfterMs: describeCertificate(pair.certificatePem).notAfterMs,
      };
    },
    stop: () => Promise.resolve(),
  };
}

async function createAndPersist(
  names: string[],
  options: SelfSignedProviderOptions,
  logger: Logger,
): Promise<CertificatePair> {
  // Loaded on demand: the X.509 library costs several MB of heap that a server whose persisted
  // certificate is still good never needs (docs/performance.md).
  const { generateSelfSignedCertificate } = await import("./self-signed-certificate.js");
  const pair = await generateSelfSignedCertificate({
    names,
    validityDays: options.validityDays ?? DEFAULT_VALIDITY_DAYS,
  });
  if (options.persistDir) {
    await mkdir(options.persistDir, { recursive: true });
    await writeAtomically(join(options.persistDir, KEY_FILE), pair.privateKeyPem, 0o600);
    await writeAtomically(join(options.persistDir, CERT_FILE), pair.certificatePem, 0o644);
  }
  logger.info({ names, persisted: options.persistDir !== undefined }, "generated self-signed certificate");
  return pair;
}

/** The persisted pair when it is readable, matches, covers `names` and is not about to expire. */
async function readPersisted(
  dir: string,
  names: string[],
  logger: Logger,
): Promise<CertificatePair | undefined> {
  let pair: CertificatePair;
  try {
    pair = {
      certificatePem: await readFile(join(dir, CERT_FILE), "utf8"),
      privateKeyPem: await readFile(join(dir, KEY_FILE), "utf8"),
    };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new HopGateError("config_invalid", `cannot read the self-signed certificate in ${dir}`, {
      cause: error,
    });
  }
  try {
    assertPairMatches(pair);
    const facts = describeCertificate(pair.certificatePem);
    const missing = names.filter((name) => !facts.names.includes(name));
    if (missing.length > 0 || facts.notAfterMs - Date.now() < MIN_REMAINING_MS) {
      logger.info({ missing, notAfterMs: facts.notAfterMs }, "replacing the stored self-signed certificate");
      return undefined;
    }
  } catch (error) {
    logger.warn({ err: error, dir }, "stored self-signed certificate is unusable; generating a new one");
    return undefined;
  }
  return pair;
}

async function writeAtomically(path: string, content: string, mode: number): Promise<void> {
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, content, { mode });
  await rename(temporary, path);
}
