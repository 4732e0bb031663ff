import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { describe, it, type TestContext } from "node:test";
import pg from "pg";
import type { CertificatePair } from "../../src/server/certs/certificate-pair.js";
import {
  createGatewayCa,
  issuePeerCertificate,
  peerServerName,
} from "../../src/server/cluster/gateway-ca.js";
import { PEER_PATHS } from "../../src/server/cluster/peer-protocol.js";
import { createTestPgDatabase, pgSkip } from "../helpers/postgres.js";
import { visit } from "../helpers/visit.js";
import { within } from "../helpers/within.js";
import { startPeerServer } from "./peer-cluster.js";

const HOUR_MS = 3_600_000;

/** A PostgreSQL client on `dsn` for the test's own reads and writes, closed when the test ends. */
async function sqlClient(t: TestContext, dsn: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: dsn });
  // The database is dropped (with force) when the test ends, perhaps before this client ends.
  client.on("error", () => {});
  await client.connect();
  t.after(() => client.end());
  return client;
}

async function gatewayCa(client: pg.Client): Promise<CertificatePair> {
  const row = (
    await client.query<{ certificate_pem: string; private_key_pem: string }>("select * from gateway_ca")
  ).rows[0];
  assert.ok(row, "the gateway CA is in the store");
  return { certificatePem: row.certificate_pem, privateKeyPem: row.private_key_pem };
}

/** A registry row for `id` as a live server would write it (an attacker with database access could too). */
async function insertServerRow(client: pg.Client, id: string, peerAddress: string | null): Promise<void> {
  await client.query(
    "insert into servers (id, advertise_addr, peer_addr, started_at, last_seen_at) values ($1, null, $2, now(), now()) on conflict (id) do update set last_seen_at = now()",
    [id, peerAddress],
  );
}

/**
 * Opens the route stream on a peer listener as a peer would, presenting `client` (or no client
 * certificate) and verifying the listener as the gateway CA's certificate of `serverId`. Resolves
 * with the HTTP status, or "refused" when the connection or stream failed before any answer.
 */
function routeStatus(
  address: string,
  serverId: string,
  caPem: string,
  client: CertificatePair | undefined,
): Promise<number | "refused"> {
  return new Promise((resolve) => {
    const session = http2.connect(`https://${address}`, {
      ca: caPem,
      servername: peerServerName(serverId),
      ...(client && { cert: client.certificatePem, key: client.privateKeyPem }),
    });
    const settle = (result: number | "refused") => {
      session.destroy();
      resolve(result);
    };
    session.on("error", () => settle("refused"));
    session.on("close", () => settle("refused"));
    const stream = session.request({ ":method": "GET", ":path": PEER_PATHS.routes });
    stream.on("error", () => settle("refused"));
    stream.on("close", () => settle("refused"));
    stream.on("response", (headers) => settle(Number(headers[":status"])));
  });
}

describe("peer link security (docs/security.md)", { skip: pgSkip() }, () => {
  it("the peer port refuses no client certificate, a foreign CA's, and the gateway CA's naming no live server; it serves one naming a live server", async (t) => {
    const database = await createTestPgDatabase(t);
    const a = await startPeerServer(t, database.dsn);
    const client = await sqlClient(t, database.dsn);
    const ca = await gatewayCa(client);
    const attempt = (pair: CertificatePair | undefined) =>
      within(routeStatus(a.peerAddress, a.id, ca.certificatePem, pair), "a connection to the peer port");

    assert.equal(await attempt(undefined), "refused", "no client certificate");
    const foreign = await createGatewayCa();
    assert.equal(
      await attempt(await issuePeerCertificate(foreign, a.id, HOUR_MS)),
      "refused",
      "a foreign CA's certificate, even naming a live server",
    );
    const stranger = randomUUID();
    assert.equal(
      await attempt(await issuePeerCertificate(ca, stranger, HOUR_MS)),
      "refused",
      "the gateway CA's certificate naming no registry row",
    );
    // The same certificate once its id is a live server: the refusals above were not the test's own doing.
    await insertServerRow(client, stranger, null);
    assert.equal(await attempt(await issuePeerCertificate(ca, stranger, HOUR_MS)), 200);
  });

  it("a registry row forged without the CA key gets no link, no route and no request", async (t) => {
    const database = await createTestPgDatabase(t);
    const a = await startPeerServer(t, database.dsn, { HOP_SERVER_TUNNEL_WAIT_SECONDS: "0" });
    const domain = "forged.example.test";
    await a.register(domain);
    const client = await sqlClient(t, database.dsn);

    // The attacker's peer listener, with a certificate of its own CA naming the forged id; if it
    // were trusted it would announce the domain and answer every relayed request.
    const forgedId = randomUUID();
    const forged = await issuePeerCertificate(await createGatewayCa(), forgedId, HOUR_MS);
    const attacker = http2.createSecureServer({ cert: forged.certificatePem, key: forged.privateKeyPem });
    let connections = 0;
    let streams = 0;
    attacker.on("connection", () => connections++);
    attacker.on("stream", (stream) => {
      streams++;
      stream.respond({ ":status": 200, "content-type": "application/x-ndjson" });
      stream.write(`${JSON.stringify({ domains: [domain] })}\n`);
    });
    await new Promise<void>((resolve) => attacker.listen(0, "127.0.0.1", resolve));
    t.after(() => new Promise<void>((resolve) => attacker.close(() => resolve())));
    const attackerAddress = `127.0.0.1:${(attacker.address() as AddressInfo).port}`;
    const keepAlive = setInterval(
      () => void insertServerRow(client, forgedId, attackerAddress).catch(() => {}),
      1_000,
    );
    t.after(() => clearInterval(keepAlive));
    await insertServerRow(client, forgedId, attackerAddress);

    // A dials the forged row (it is in the registry) but refuses the certificate it is shown, and
    // dials again at its next registry read (a trusted link would have stayed up instead).
    const deadline = Date.now() + 30_000;
    while (connections < 2 && streams === 0 && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 100));
    assert.ok(connections >= 1, "A dialled the forged row");
    const answer = await visit(a.httpsPort, domain, "/");
    assert.equal(streams, 0, "the forged server got no stream");
    assert.equal(answer.status, 502, "no route to the forged server");
    assert.ok(connections >= 2, "A kept refusing the forged server");
  });
});
