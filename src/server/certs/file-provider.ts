import { unwatchFile, watchFile } from "node:fs";
import { readFile } from "node:fs/promises";
import { createPrivateKey } from "node:crypto";
import type { SecureContext } from "node:tls";
import { HopGateError } from "../../lib/hopgate-error.js";
import type { Logger } from "../../lib/logger.js";
import {
  assertPairMatches,
  describeCertificate,
  secureContextOf,
  splitPemChain,
  type CertificatePair,
} from "./certificate-pair.js";
import type { CertificateProvider } from "./certificate-provider.js";

export interface FileProviderOptions {
  /** HOP_SERVER_TLS_CERT: PEM chain, leaf first. */
  readonly certFile: string | undefined;
  /** HOP_SERVER_TLS_KEY: PEM private key of the leaf. */
  readonly keyFile: string | undefined;
  /** Poll interval for changes of either file (fs.watchFile); 0 turns watching off. Default 10 s. */
  readonly watchIntervalMs?: number;
  readonly logger: Logger;
}

export interface FileProvider extends CertificateProvider {
  /**
   * Reads both files again (wire to SIGHUP). A bad new pair is logged and the old one kept, so a
   * half-finished copy never takes the listener down. Resolves true when the new pair is served.
   */
  reload(): Promise<boolean>;
}

const DEFAULT_WATCH_INTERVAL_MS = 10_000;

/** Serves one certificate/key pair from PEM files, whatever the SNI name. */
export function createFileProvider(options: FileProviderOptions): FileProvider {
  const { certFile, keyFile } = options;
  if (!certFile || !keyFile) {
    throw new HopGateError(
      "config_invalid",
      "HOP_SERVER_TLS=files needs both HOP_SERVER_TLS_CERT and HOP_SERVER_TLS_KEY (PEM file paths)",
    );
  }
  const logger = options.logger.child({ component: "certs" });
  const listeners = new Set<() => void>();
  const watchIntervalMs = options.watchIntervalMs ?? DEFAULT_WATCH_INTERVAL_MS;
  let loaded:
    { pair: CertificatePair; context: SecureContext; notAfterMs: number; domain: string } | undefined;

  const load = async () => {
    const pair = await readPair(certFile, keyFile);
    const facts = describeCertificate(pair.certificatePem);
    loaded = {
      pair,
      context: secureContextOf(pair),
      notAfterMs: facts.notAfterMs,
      domain: facts.names[0] ?? "default",
    };
    logger.info(
      { certFile, notAfterMs: facts.notAfterMs, names: facts.names },
      "loaded TLS certificate files",
    );
  };
  const current = () => {
    if (!loaded) throw new HopGateError("internal", "file certificate provider used before start()");
    return loaded;
  };
  const onFileChange = () => void provider.reload();

  const provider: FileProvider = {
    secureContextFor: () => Promise.resolve(current().context),
    defaultContext: () => current().context,
    defaultCertificate: () => current().pair,
    onDefaultChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    expiries: () => [{ domain: current().domain, notAfterMs: current().notAfterMs }],
    async start() {
      await load();
      if (watchIntervalMs > 0) {
        for (const file of [certFile, keyFile]) watchFile(file, { interval: watchIntervalMs }, onFileChange);
      }
    },
    stop() {
      for (const file of [certFile, keyFile]) unwatchFile(file, onFileChange);
      return Promise.resolve();
    },
    async reload() {
      try {
        await load();
      } catch (error) {
        logger.error({ err: error }, "TLS certificate files not reloaded; still serving the previous pair");
        return false;
      }
      for (const listener of listeners) listener();
      return true;
    },
  };
  return provider;
}

/** Reads and checks the pair; every failure is one config_invalid line naming the file. */
async function readPair(certFile: string, keyFile: string): Promise<CertificatePair> {
  const certificatePem = await readSetting("HOP_SERVER_TLS_CERT", certFile);
  const privateKeyPem = await readSetting("HOP_SERVER_TLS_KEY", keyFile);
  if (splitPemChain(certificatePem).length === 0) {
    throw new HopGateError("config_invalid", `HOP_SERVER_TLS_CERT file ${certFile} holds no PEM certificate`);
  }
  try {
    describeCertificate(certificatePem);
  } catch (error) {
    throw new HopGateError(
      "config_invalid",
      `HOP_SERVER_TLS_CERT file ${certFile} holds an unreadable certificate`,
      {
        cause: error,
      },
    );
  }
  try {
    createPrivateKey(privateKeyPem);
  } catch (error) {
    throw new HopGateError(
      "config_invalid",
      `HOP_SERVER_TLS_KEY file ${keyFile} holds no readable PEM private key`,
      {
        cause: error,
      },
    );
  }
  try {
    assertPairMatches({ certificatePem, privateKeyPem });
  } catch (error) {
    throw new HopGateError(
      "config_invalid",
      `HOP_SERVER_TLS_KEY file ${keyFile} is not the key of the certificate in HOP_SERVER_TLS_CERT file ${certFile}`,
      { cause: error },
    );
  }
  return { certificatePem, privateKeyPem };
}

async function readSetting(variable: string, file: string): Promise<string> {
  try {
    return await readFile(file, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? "error";
    const reason = code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : code;
    throw new HopGateError("config_invalid", `cannot read ${variable} file ${file}: ${reason}`, {
      cause: error,
    });
  }
}
