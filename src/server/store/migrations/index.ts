import type { Migration } from "kysely/migration";
import type { StoreDialect } from "../schema.js";
import { domainsMigration } from "./0001-domains.js";
import { certificatesMigration } from "./0002-certificates.js";
import { accessPoliciesMigration } from "./0003-access-policies.js";
import { serverRegistryMigration } from "./0004-server-registry.js";
import { peerLinkMigration } from "./0005-peer-link.js";
import { sharedCertificatesMigration } from "./0006-shared-certificates.js";
import { sharedStateMigration } from "./0007-shared-state.js";
import { certificateChangesMigration } from "./0008-certificate-changes.js";
import { acmeFailuresMigration } from "./0009-acme-failures.js";

/**
 * Every migration, listed explicitly (no directory scanning, so bundling and tsx behave the same).
 * Names sort in the order they run; never rename or remove an applied one.
 */
export function storeMigrations(dialect: StoreDialect): Record<string, Migration> {
  return {
    "0001_domains": domainsMigration(dialect),
    "0002_certificates": certificatesMigration(dialect),
    "0003_access_policies": accessPoliciesMigration(),
    "0004_server_registry": serverRegistryMigration(dialect),
    "0005_peer_link": peerLinkMigration(dialect),
    "0006_shared_certificates": sharedCertificatesMigration(dialect),
    "0007_shared_state": sharedStateMigration(dialect),
    "0008_certificate_changes": certificateChangesMigration(dialect),
    "0009_acme_failures": acmeFailuresMigration(dialect),
  };
}
