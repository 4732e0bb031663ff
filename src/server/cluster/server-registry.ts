import { randomUUID } from "node:crypto";
import { sql, type Kysely } from "kysely";
import { Counter, type Registry } from "prom-client";
import type { Logger } from "../../lib/logger.js";
import type { StoreDialect, StoreSchema } from "../store/schema.js";
import { toStoreError } from "../store/store-error.js";
import type { SessionDirectory, SessionInfo } from "../tunnel/session-directory.js";

/** The server of a gateway that holds a session (docs/scale-out.md). */
export interface SessionHolder {
  readonly id: string;
  /** HOP_SERVER_ADVERTISE_ADDR of that server; null when it has none. */
  readonly advertiseAddress: string | null;
}

export interface GatewaySession extends SessionInfo {
  readonly server: SessionHolder;
}

/** Lists the sessions of every live server of the gateway (the admin API's `/sessions`). */
export interface GatewaySessions {
  list(filter?: { readonly domain?: string }): Promise<GatewaySession[]>;
}

/** A live server of the gateway with a peer listener (docs/scale-out.md, peer link). */
export interface PeerEntry {
  readonly id: string;
  /** host:port of its peer listener. */
  readonly peerAddress: string;
}

export interface ServerRegistry extends GatewaySessions {
  readonly self: SessionHolder;
  /** Records where this server's peer listener is reached (written at once, then every heartbeat). */
  setPeerAddress(address: string): void;
  /** The other live servers that have a peer listener; throws a StoreError when PostgreSQL fails. */
  livePeers(): Promise<PeerEntry[]>;
  /** Whether `id` is a live server of the gateway now (one query); throws a StoreError on failure. */
  isLive(id: string): Promise<boolean>;
  /** A session opened or closed here: the mirror is rewritten soon (coalesced). */
  sessionsChanged(): void;
  /**
   * Stops the heartbeat and deletes this server's row (best effort, waiting at most 1 s; a row
   * left behind expires); idempotent.
   */
  stop(): Promise<void>;
}

export interface ServerRegistryOptions {
  readonly db: Kysely<StoreSchema>;
  /** Whose clock and SQL: PostgreSQL, or the SQLite file shared by `--workers` (docs/scale-out.md). */
  readonly dialect: StoreDialect;
  readonly advertiseAddress?: string;
  /** This server's live sessions. */
  readonly sessions: SessionDirectory;
  readonly logger: Logger;
  /** Where the write-failure counter is registered. */
  readonly metrics: Registry;
  /** Period of the heartbeat (and of the full rewrite of this server's sessions). */
  readonly heartbeatMs?: number;
  /** A server not seen for this long is dead: left out of lists, then deleted. */
  readonly expiryMs?: number;
  /** After each heartbeat: the advertise addresses of the live servers (this one included). */
  readonly onLiveServers?: (addresses: readonly string[]) => void;
}

export const DEFAULT_HEARTBEAT_MS = 2_000;
export const DEFAULT_EXPIRY_MS = 10_000;
/** Longest wait at shutdown for the last write and the deletion of this server's row. */
const LEAVE_TIMEOUT_MS = 1_000;
/** Rows per INSERT, well under PostgreSQL's 65535 bind parameters (11 per row). */
const INSERT_CHUNK_ROWS = 500;

/**
 * The server registry in the store (PostgreSQL, or the SQLite file that the workers of one host
 * share): this server's row (heartbeat every `heartbeatMs`, using the database's clock) and a
 * mirror of its live sessions, written at each heartbeat and soon after each change: only the
 * rows that changed since the last committed write (a session that opened, closed, or whose
 * state or counters moved), the whole mirror after a failed write. Everything here is best effort: a write that fails is logged, counted
 * (`hopgate_server_registry_write_failures_total`) and repaired by the next heartbeat, and
 * nothing on the request or tunnel path ever waits for it. Each heartbeat also deletes servers
 * (and, by cascade, their sessions) not seen for `expiryMs`, so a server killed with SIGKILL
 * leaves the lists within `expiryMs` (reads filter by age) and the tables soon after.
 */
export function startServerRegistry(options: ServerRegistryOptions): ServerRegistry {
  const { db, dialect, logger } = options;
  const heartbeatMs = options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
  const expirySeconds = (options.expiryMs ?? DEFAULT_EXPIRY_MS) / 1000;
  const self: SessionHolder = { id: randomUUID(), advertiseAddress: options.advertiseAddress ?? null };
  const startedAt = new Date().toISOString();
  const failures = new Counter({
    name: "hopgate_server_registry_write_failures_total",
    help: "Heartbeats and session-mirror writes to the server registry that failed (retried at the next heartbeat)",
    registers: [options.metrics],
  });
  let peerAddress: string | null = null;
  let running: Promise<void> | undefined;
  let again = false;
  let stopped = false;
  let failing = false;

  /**
   * Each session row as last committed (JSON), to write only what changed; undefined: the next
   * write rewrites them all (at start, after a failed write, or when this server's row was gone).
   */
  let written: Map<string, string> | undefined;

  const write = async () => {
    const rows = options.sessions.list().map((s) => ({
      server_id: self.id,
      id: s.id,
      domain: s.domain,
      remote_address: s.remoteAddress,
      protocol_version: s.protocolVersion,
      services: JSON.stringify(s.services.map((x) => ({ name: x.name, pathPrefix: x.pathPrefix }))),
      connected_at: s.connectedAt,
      state: s.state,
      in_flight_streams: s.inFlightStreams,
      bytes_to_client: s.bytesToClient,
      bytes_from_client: s.bytesFromClient,
    }));
    const next = new Map(rows.map((row) => [row.id, JSON.stringify(row)]));
    const before = written;
    written = undefined; // until this write commits
    await db.transaction().execute(async (tx) => {
      const seen = await tx
        .updateTable("servers")
        .set({ last_seen_at: databaseNow(dialect), peer_addr: peerAddress })
        .where("id", "=", self.id)
        .executeTakeFirst();
      // No row: the first write, or expired by another server (its sessions went with it).
      const rowWasGone = seen.numUpdatedRows === 0n;
      if (rowWasGone)
        await tx
          .insertInto("servers")
          .values({
            id: self.id,
            advertise_addr: self.advertiseAddress,
            peer_addr: peerAddress,
            started_at: startedAt,
            last_seen_at: databaseNow(dialect),
          })
          .execute();
      const whole = before === undefined || rowWasGone;
      if (whole) await tx.deleteFrom("tunnel_sessions").where("server_id", "=", self.id).execute();
      else {
        const closed = [...before.keys()].filter((id) => !next.has(id));
        for (let i = 0; i < closed.length; i += INSERT_CHUNK_ROWS)
          await tx
            .deleteFrom("tunnel_sessions")
            .where("server_id", "=", self.id)
            .where("id", "in", closed.slice(i, i + INSERT_CHUNK_ROWS))
            .execute();
      }
      const changed = whole ? rows : rows.filter((row) => before.get(row.id) !== next.get(row.id));
      for (let i = 0; i < changed.length; i += INSERT_CHUNK_ROWS)
        await tx
          .insertInto("tunnel_sessions")
          .values(changed.slice(i, i + INSERT_CHUNK_ROWS))
          .onConflict((c) =>
            c.columns(["server_id", "id"]).doUpdateSet((eb) => ({
              state: eb.ref("excluded.state"),
              in_flight_streams: eb.ref("excluded.in_flight_streams"),
              bytes_to_client: eb.ref("excluded.bytes_to_client"),
              bytes_from_client: eb.ref("excluded.bytes_from_client"),
              services: eb.ref("excluded.services"),
            })),
          )
          .execute();
      await tx
        .deleteFrom("servers")
        .where("last_seen_at", "<", expiredBefore(dialect, expirySeconds))
        .execute();
      // SQLite enforces no foreign keys here (no `pragma foreign_keys`): no cascade, so the
      // sessions of deleted servers are deleted by hand.
      if (dialect === "sqlite")
        await tx
          .deleteFrom("tunnel_sessions")
          .where("server_id", "not in", tx.selectFrom("servers").select("id"))
          .execute();
    });
    written = next;
    if (!options.onLiveServers) return;
    const live = await db
      .selectFrom("servers")
      .select("advertise_addr")
      .where("advertise_addr", "is not", null)
      .where("last_seen_at", ">=", expiredBefore(dialect, expirySeconds))
      .execute();
    if (!stopped) options.onLiveServers(live.flatMap((row) => row.advertise_addr ?? []));
  };

  const sync = (): void => {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    running = write()
      .then(() => {
        if (failing) logger.info({ server_id: self.id }, "server registry written again");
        failing = false;
      })
      .catch((error: unknown) => {
        failures.inc();
        // One warning per outage, not one per heartbeat.
        if (!failing) logger.warn({ err: error, server_id: self.id }, "server registry write failed");
        failing = true;
      })
      .finally(() => {
        running = undefined;
        if (again) {
          again = false;
          sync();
        }
      });
  };

  const timer = setInterval(sync, heartbeatMs);
  timer.unref();
  sync();
  logger.info({ server_id: self.id, advertise_addr: self.advertiseAddress }, "joined the server registry");

  return {
    self,
    sessionsChanged: sync,
    setPeerAddress(address) {
      peerAddress = address;
      sync();
    },
    async livePeers() {
      try {
        const rows = await db
          .selectFrom("servers")
          .select(["id", "peer_addr"])
          .where("id", "!=", self.id)
          .where("peer_addr", "is not", null)
          .where("last_seen_at", ">=", expiredBefore(dialect, expirySeconds))
          .execute();
        return rows.map((row) => ({ id: row.id, peerAddress: row.peer_addr! }));
      } catch (error) {
        throw toStoreError(error, "list the gateway's peers");
      }
    },
    async isLive(id) {
      try {
        const row = await db
          .selectFrom("servers")
          .select("id")
          .where("id", "=", id)
          .where("last_seen_at", ">=", expiredBefore(dialect, expirySeconds))
          .executeTakeFirst();
        return row !== undefined;
      } catch (error) {
        throw toStoreError(error, "look up a peer in the server registry");
      }
    },
    async list(filter = {}) {
      const local = options.sessions.list(filter).map((s) => ({ ...s, server: self }));
      let query = db
        .selectFrom("tunnel_sessions")
        .innerJoin("servers", "servers.id", "tunnel_sessions.server_id")
        .selectAll("tunnel_sessions")
        .select("servers.advertise_addr")
        .where("servers.id", "!=", self.id)
        .where("servers.last_seen_at", ">=", expiredBefore(dialect, expirySeconds));
      if (filter.domain !== undefined) query = query.where("tunnel_sessions.domain", "=", filter.domain);
      let rows;
      try {
        rows = await query.orderBy("tunnel_sessions.connected_at").execute();
      } catch (error) {
        throw toStoreError(error, "list the gateway's sessions");
      }
      const remote = rows.map((row): GatewaySession => ({
        id: row.id,
        domain: row.domain,
        remoteAddress: row.remote_address,
        protocolVersion: row.protocol_version === 1 ? 1 : 2,
        services: JSON.parse(row.services) as GatewaySession["services"],
        connectedAt: new Date(row.connected_at).toISOString(),
        state: row.state === "draining" ? "draining" : "active",
        inFlightStreams: row.in_flight_streams,
        bytesToClient: Number(row.bytes_to_client),
        bytesFromClient: Number(row.bytes_from_client),
        server: { id: row.server_id, advertiseAddress: row.advertise_addr },
      }));
      return [...local, ...remote];
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      // A stalled database must not hold up shutdown: the row then expires like a killed server's.
      const leave = (async () => {
        await running;
        await db.deleteFrom("servers").where("id", "=", self.id).execute();
      })();
      let timeout: NodeJS.Timeout | undefined;
      const gaveUp = new Promise<"gave up">((resolve) => {
        timeout = setTimeout(() => resolve("gave up"), LEAVE_TIMEOUT_MS);
      });
      try {
        if ((await Promise.race([leave, gaveUp])) === "gave up")
          logger.warn({ server_id: self.id }, "could not leave the server registry in time; it expires");
      } catch (error) {
        logger.warn({ err: error, server_id: self.id }, "could not leave the server registry");
      } finally {
        clearTimeout(timeout);
        leave.catch(() => {});
      }
    },
  };
}

/**
 * The database's clock, so that no two servers' clocks are ever compared. SQLite's is the host's
 * (every worker shares it), as ISO-8601 UTC text with milliseconds: the format `started_at` and
 * `connected_at` are written in, so text order is time order.
 */
function databaseNow(dialect: StoreDialect) {
  return dialect === "postgres" ? sql<string>`now()` : sql<string>`strftime('%Y-%m-%dT%H:%M:%fZ', 'now')`;
}

/** The database's now minus the expiry. */
function expiredBefore(dialect: StoreDialect, expirySeconds: number) {
  return dialect === "postgres"
    ? sql<string>`now() - make_interval(secs => ${expirySeconds})`
    : sql<string>`strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ${`-${expirySeconds} seconds`})`;
}
