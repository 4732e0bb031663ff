import { sql, type Kysely } from "kysely";
import { HopGateError } from "../../lib/hopgate-error.js";
import type { Logger } from "../../lib/logger.js";
import type { StoreDialect, StoreSchema } from "../store/schema.js";
import { storeNowMs } from "../store/store-clock.js";
import { toStoreError } from "../store/store-error.js";

export type GatewayClaim =
  | { readonly ok: true }
  | { readonly ok: false; readonly reason: "label_taken" | "label_limit"; readonly message: string };

/** One server's hold on a label (a label held on two servers by one client is two holds). */
export interface LabelHold {
  readonly hostname: string;
  readonly server: {
    /** Its id in the server registry. */
    readonly id: string;
    /** HOP_SERVER_ADVERTISE_ADDR of that server; null when it has none or its row is not written yet. */
    readonly advertiseAddress: string | null;
  };
}

/**
 * Labels under wildcard domains across the servers of a gateway (PostgreSQL, or the workers of
 * one host on SQLite): a label is held by
 * one client instance gateway-wide, first come first served; the same instance may hold it on
 * several servers at once (a v2 client keeps a tunnel to each). This server's in-memory
 * LabelLeases stays the judge of its own tunnels and grace; the store holds one row per server
 * that holds a label (or keeps it in grace), written before the local claim and deleted when
 * the local lease is freed.
 */
export interface GatewayLabels {
  /**
   * Claims `hostname` (under `pattern`) for `holder` on this server: refused when another
   * holder's row is live anywhere, or when `pattern` already holds its limit of labels across
   * the gateway. Throws HopGateError "unavailable" when the store does not answer: a new claim
   * is never granted without it (two servers could otherwise give one label to two clients).
   */
  claim(hostname: string, pattern: string, holder: string): Promise<GatewayClaim>;
  /**
   * Every live hold under `pattern` in the gateway (this server's included), by hostname then
   * server id; a dead server's rows are left out as a claim treats them. Throws a StoreError
   * when the store does not answer.
   */
  holdsOf(pattern: string): Promise<LabelHold[]>;
  /** This server freed `hostname` (grace over, or dropped): its row goes (best effort). */
  released(hostname: string): void;
  stop(): void;
}

export interface GatewayLabelsOptions {
  readonly db: Kysely<StoreSchema>;
  /** PostgreSQL, or the SQLite file the workers of `--workers N` share. */
  readonly dialect: StoreDialect;
  /** This server's id in the server registry. */
  readonly serverId: string;
  /** Labels one wildcard may hold across the gateway; 0 = no limit (HOP_SUBDOMAIN_MAX_LABELS). */
  readonly maxLabelsPerBase: number;
  /** A server not seen for this long is dead, and its rows no longer hold their labels. */
  readonly serverExpiryMs: number;
  /** The labels this server holds now (hostname → holder), for the periodic repair. */
  readonly heldHere: () => ReadonlyMap<string, { readonly pattern: string; readonly holder: string }>;
  readonly logger: Logger;
  /** Period of the repair that rewrites this server's rows from its memory. */
  readonly repairMs?: number;
}

/** Key space of the advisory lock serialising claims under one wildcard ("HopH"). */
const LOCK_SPACE = 0x486f7048;
const DEFAULT_REPAIR_MS = 10_000;

/**
 * See GatewayLabels. A row is live while its server is (its registry row seen within
 * `serverExpiryMs`, or the row itself younger than that, for a server whose first heartbeat is
 * not written yet); rows of dead servers are deleted by the next claim under their wildcard, so
 * a server killed while holding a label frees it one registry expiry (10 s) after its last
 * heartbeat, without waiting for the grace. Every store operation of this server runs in order
 * (a release never overtakes a later claim of the same label). Rows this server could not write
 * or delete during an outage are repaired every `repairMs` from its memory.
 */
export function createGatewayLabels(options: GatewayLabelsOptions): GatewayLabels {
  const { db, serverId, logger } = options;
  const { dialect } = options;
  const now = storeNowMs(dialect);
  let tail: Promise<unknown> = Promise.resolve();
  const inOrder = <T>(task: () => Promise<T>): Promise<T> => {
    const run = tail.then(task, task);
    tail = run.catch(() => {});
    return run;
  };
  let failing = false;
  const failed = (error: unknown, action: string) => {
    if (!failing)
      logger.warn({ err: (error as Error).message, action }, "subdomain label store write failed");
    failing = true;
  };

  const expirySeconds = options.serverExpiryMs / 1000;
  // The registry's own test of liveness, on the database's clock (server-registry.ts).
  const liveServers =
    dialect === "postgres"
      ? sql`(select id::text from servers where last_seen_at >= now() - make_interval(secs => ${expirySeconds}))`
      : sql`(select id from servers where last_seen_at >= strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ${`-${expirySeconds} seconds`}))`;

  const listHolds = async (pattern: string): Promise<LabelHold[]> => {
    const rows = await db
      .selectFrom("subdomain_labels")
      .select(["hostname", "server_id"])
      .where("pattern", "=", pattern)
      .where((eb) =>
        eb.or([
          sql<boolean>`server_id in ${liveServers}`,
          eb("claimed_ms", ">=", sql<number>`${now} - ${options.serverExpiryMs}`),
        ]),
      )
      .orderBy("hostname")
      .orderBy("server_id")
      .execute();
    const ids = [...new Set(rows.map((row) => row.server_id))];
    const servers =
      ids.length === 0
        ? []
        : await db.selectFrom("servers").select(["id", "advertise_addr"]).where("id", "in", ids).execute();
    const advertised = new Map(servers.map((row) => [String(row.id), row.advertise_addr]));
    return rows.map((row) => ({
      hostname: row.hostname,
      server: { id: row.server_id, advertiseAddress: advertised.get(row.server_id) ?? null },
    }));
  };

  const claimInStore = async (hostname: string, pattern: string, holder: string): Promise<GatewayClaim> =>
    db.transaction().execute(async (tx) => {
      // SQLite's transactions are already serialised (BEGIN IMMEDIATE, sqlite-dialect.ts).
      if (dialect === "postgres")
        await sql`select pg_advisory_xact_lock(${LOCK_SPACE}, hashtext(${pattern}))`.execute(tx);
      await tx
        .deleteFrom("subdomain_labels")
        .where("pattern", "=", pattern)
        .where("server_id", "!=", serverId)
        .where(sql<boolean>`server_id not in ${liveServers}`)
        .where("claimed_ms", "<", sql<number>`${now} - ${options.serverExpiryMs}`)
        .execute();
      const taken = await tx
        .selectFrom("subdomain_labels")
        .select("holder")
        .where("hostname", "=", hostname)
        .where("holder", "!=", holder)
        .executeTakeFirst();
      if (taken)
        return {
          ok: false,
          reason: "label_taken",
          message: `${hostname} is held by another client; choose another label`,
        } as const;
      const max = options.maxLabelsPerBase;
      if (max > 0) {
        const others = await tx
          .selectFrom("subdomain_labels")
          .select(sql<number>`count(distinct hostname)`.as("labels"))
          .where("pattern", "=", pattern)
          .where("hostname", "!=", hostname)
          .executeTakeFirstOrThrow();
        if (Number(others.labels) >= max)
          return {
            ok: false,
            reason: "label_limit",
            message: `${pattern} already holds its limit of ${max} labels across the gateway; retry later`,
          } as const;
      }
      await tx
        .insertInto("subdomain_labels")
        .values({ hostname, server_id: serverId, pattern, holder, claimed_ms: now })
        .onConflict((c) =>
          c.columns(["hostname", "server_id"]).doUpdateSet({ holder, pattern, claimed_ms: now }),
        )
        .execute();
      return { ok: true } as const;
    });

  const repair = async () => {
    const held = options.heldHere();
    await db.transaction().execute(async (tx) => {
      let stale = tx.deleteFrom("subdomain_labels").where("server_id", "=", serverId);
      if (held.size > 0) stale = stale.where("hostname", "not in", [...held.keys()]);
      await stale.execute();
      for (const [hostname, { pattern, holder }] of held)
        await tx
          .insertInto("subdomain_labels")
          .values({ hostname, server_id: serverId, pattern, holder, claimed_ms: now })
          .onConflict((c) => c.columns(["hostname", "server_id"]).doUpdateSet({ holder, pattern }))
          .execute();
    });
  };
  const timer = setInterval(() => {
    if (!failing) return; // nothing to repair while every write succeeded
    void inOrder(repair).then(
      () => {
        failing = false;
        logger.info("subdomain label store repaired");
      },
      () => {},
    );
  }, options.repairMs ?? DEFAULT_REPAIR_MS);
  timer.unref();

  return {
    async claim(hostname, pattern, holder) {
      try {
        return await inOrder(() => claimInStore(hostname, pattern, holder));
      } catch (error) {
        const failure = toStoreError(error, "claim a subdomain label");
        if (failure.code !== "unavailable") throw failure;
        throw new HopGateError(
          "unavailable",
          `cannot claim ${hostname} while the store is unavailable (labels already held keep serving); retry shortly`,
          { cause: failure },
        );
      }
    },
    async holdsOf(pattern) {
      try {
        return await listHolds(pattern);
      } catch (error) {
        throw toStoreError(error, "list the gateway's subdomain labels");
      }
    },
    released(hostname) {
      inOrder(() =>
        db
          .deleteFrom("subdomain_labels")
          .where("hostname", "=", hostname)
          .where("server_id", "=", serverId)
          .execute(),
      ).catch((error: unknown) => failed(error, "release"));
    },
    stop() {
      clearInterval(timer);
    },
  };
}
