import assert from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { Writable } from "node:stream";
import { describe, it, type TestContext } from "node:test";
import { loadConfig } from "../../src/config/load-config.js";
import { serverSettings } from "../../src/config/server-settings.js";
import { describeCertificate, type CertificatePair } from "../../src/server/certs/certificate-pair.js";
import { generateSelfSignedCertificate } from "../../src/server/certs/self-signed-certificate.js";
import { createKyselyCertificateStore } from "../../src/server/certs/acme/kysely-certificate-store.js";
import { openDatabase, SQLITE_FILE_NAME } from "../../src/server/store/database.js";
import { startServer } from "../../src/server/start-server.js";
import { createLogger, silentLogger } from "../../src/lib/logger.js";
import { pollUntil } from "../helpers/poll-until.js";
import { createTestPgDatabase, pgSkip } from "../helpers/postgres.js";
import { tempDir } from "../helpers/temp-dir.js";
import { tlsHandshake } from "../helpers/tls-probe.js";

const MAIN_DOMAIN = "gateway.example.test";
/** A row whose PEM does not parse: loading it at start logs an error, inside the loading. */
const UNREADABLE_DOMAIN = "unreadable.example.test";
/** Logged by the ACME manager's start for that row, after it read every stored certificate. */
const UNREADABLE_LOGGED = "stored certificate unreadable; ordering a new one";
/**
 * Without the signal a certificate stored during the start waits for the 60 s unprompted look;
 * with it, about a second (SQLite's counter is read each second). Wide for a busy machine.
 */
const PICK_UP_BOUND_MS = 15_000;

interface StartCase {
  readonly name: string;
  readonly skip: string | false;
  /** Flags for the store (the DSN, or the data directory of the SQLite file). */
  flags(t: TestContext, dir: string): Promise<Record<string, string>>;
  /**
   * Stores `pair` for the main domain as another server of the gateway would, started from
   * inside a log call of the server under test (SQLite: committed before the call returns).
   */
  writer(flags: Record<string, string>): (pair: CertificatePair) => Promise<void>;
}

const cases: StartCase[] = [
  {
    name: "one SQLite file (change counter)",
    skip: false,
    flags: (_t, dir) => Promise.resolve({ dataDir: join(dir, "data") }),
    writer(flags) {
      return (pair) => {
        const file = new DatabaseSync(join(flags.dataDir!, SQLITE_FILE_NAME), { timeout: 10_000 });
        try {
          const now = new Date().toISOString();
          file
            .prepare(
              "update certificates set certificate_pem = ?, private_key_pem = ?, not_after = ?, updated_at = ? where domain = ?",
            )
            .run(
              pair.certificatePem,
              pair.privateKeyPem,
              new Date(describeCertificate(pair.certificatePem).notAfterMs).toISOString(),
              now,
              MAIN_DOMAIN,
            );
        } finally {
          file.close();
        }
        return Promise.resolve();
      };
    },
  },
  {
    name: "PostgreSQL (LISTEN/NOTIFY)",
    skip: pgSkip(),
    async flags(t) {
      const database = await createTestPgDatabase(t);
      return { dbDsn: database.dsn };
    },
    writer(flags) {
      return async (pair) => {
        const database = await openDatabase({ dsn: flags.dbDsn, dataDir: "", logger: silentLogger() });
        try {
          await createKyselyCertificateStore(database).saveCertificate({ domain: MAIN_DOMAIN, ...pair });
        } finally {
          await database.close();
        }
      };
    },
  },
];

for (const c of cases) {
  describe(`certificate pick-up during a server's start, ${c.name}`, { skip: c.skip }, () => {
    it(`serves a certificate stored while the server loads its certificates within ${PICK_UP_BOUND_MS} ms`, async (t) => {
      const dir = await tempDir(t);
      const storeFlags = await c.flags(t, dir);
      // What another server stored before this one starts: a fresh certificate for the main
      // domain (nothing to order: the CA below is never reached) and one unreadable row.
      const first = await generateSelfSignedCertificate({ names: [MAIN_DOMAIN], validityDays: 90 });
      const second = await generateSelfSignedCertificate({ names: [MAIN_DOMAIN], validityDays: 90 });
      const seed = await openDatabase({
        dsn: storeFlags.dbDsn,
        dataDir: storeFlags.dataDir ?? dir,
        logger: silentLogger(),
      });
      try {
        const store = createKyselyCertificateStore(seed);
        await store.saveCertificate({ domain: MAIN_DOMAIN, ...first });
        await seed.db
          .insertInto("certificates")
          .values({
            domain: UNREADABLE_DOMAIN,
            certificate_pem: "not a certificate",
            private_key_pem: "not a key",
            not_after: new Date().toISOString(),
            updated_at: new Date().toISOString(),
          })
          .execute();
      } finally {
        await seed.close();
      }

      // The other server stores its renewal exactly while this one loads what the store holds:
      // when it logs the unreadable row, after it read every certificate.
      const write = c.writer(storeFlags);
      let written: Promise<void> | undefined;
      const lines: Array<Record<string, unknown>> = [];
      const destination = new Writable({
        write(chunk: Buffer, _encoding, callback) {
          for (const text of chunk.toString().split("\n")) {
            if (text === "") continue;
            const line = JSON.parse(text) as Record<string, unknown>;
            lines.push(line);
            if (process.env.HOPGATE_TEST_LOG !== undefined) process.stderr.write(`${text}\n`);
            if (line.msg === UNREADABLE_LOGGED && line.domain === UNREADABLE_DOMAIN)
              written ??= write(second);
          }
          callback();
        },
      });
      const config = loadConfig(serverSettings, {
        env: {},
        dotenvDir: null,
        flags: {
          domain: MAIN_DOMAIN,
          httpsListen: "127.0.0.1:0",
          httpListen: "127.0.0.1:0",
          metricsListen: "off",
          dataDir: join(dir, "data"),
          tls: "acme",
          // Never asked: the stored certificates are fresh.
          acmeCaDir: "https://127.0.0.1:9/dir",
          acmeEmail: "ops@example.test",
          ...storeFlags,
        },
      });
      const server = await startServer(config, createLogger({ level: "debug", destination }));
      t.after(() => server.stop());
      assert.ok(written, "the second certificate was stored during the start");
      await written;
      const startedAtMs = Date.now();

      const serial = describeCertificate(second.certificatePem).serialNumber;
      const presented = async () =>
        (
          await tlsHandshake(server.httpsPort, {
            servername: MAIN_DOMAIN,
            ca: [first.certificatePem, second.certificatePem],
          })
        ).serialNumber;
      await pollUntil(
        async () => (await presented()) === serial,
        PICK_UP_BOUND_MS,
        () =>
          `the server still presents the certificate it loaded ${PICK_UP_BOUND_MS} ms after another server stored ${serial} (pick-up lines: ${JSON.stringify(lines.filter((l) => String(l.msg).includes("picked up")))})`,
        100,
      );
      const tookMs = Date.now() - startedAtMs;
      t.diagnostic(`picked up ${tookMs} ms after the start`);
    });
  });
}
