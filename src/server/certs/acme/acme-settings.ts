import { directory } from "acme-client";
import { readCaFile } from "../../../config/ca-file.js";
import { serverSettings, type ServerConfig } from "../../../config/server-settings.js";
import type { Logger } from "../../../lib/logger.js";

/** What the ACME issuer and the address check take from the server's configuration. */
export interface AcmeSettings {
  readonly directoryUrl: string;
  readonly email?: string;
  /** HOP_ACME_EXPECT_IPS; empty means no check. */
  readonly expectedIps: readonly string[];
  /** HOP_ACME_DIRECTORY_CA_FILE's PEM: trusted for the directory's HTTPS only. */
  readonly directoryCaPem?: string;
}

type AcmeConfig = Pick<
  ServerConfig,
  "acmeCaDir" | "acmeUseStaging" | "acmeEmail" | "acmeExpectIps" | "acmeCacheDir" | "acmeDirectoryCaFile"
>;

/**
 * HOP_ACME_CA_DIR wins; else Let's Encrypt staging (HOP_ACME_USE_STAGING) or production. Logs one
 * warning when HOP_ACME_CACHE_DIR is set: the original kept certificates there, HopGate keeps
 * them in the store, so the directory is neither read nor written.
 */
export function acmeSettings(config: AcmeConfig, logger: Logger): AcmeSettings {
  if (config.acmeCacheDir !== undefined) {
    logger.warn(
      { component: "acme", acme_cache_dir: config.acmeCacheDir },
      "HOP_ACME_CACHE_DIR is ignored: certificates and the ACME account live in the store",
    );
  }
  const directoryUrl =
    config.acmeCaDir ??
    (config.acmeUseStaging ? directory.letsencrypt.staging : directory.letsencrypt.production);
  return {
    directoryUrl,
    ...(config.acmeEmail === undefined ? {} : { email: config.acmeEmail }),
    expectedIps: config.acmeExpectIps,
    ...(config.acmeDirectoryCaFile === undefined
      ? {}
      : { directoryCaPem: readCaFile(config.acmeDirectoryCaFile, serverSettings.acmeDirectoryCaFile) }),
  };
}
