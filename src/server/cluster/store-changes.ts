import type { Client } from "pg";
import type { Kysely } from "kysely";
import type { Logger } from "../../lib/logger.js";
import { STORE_CHANGED_CHANNEL, SHARED_STATE_TOPICS } from "../store/migrations/0007-shared-state.js";
import { CERTIFICATES_TOPIC } from "../store/migrations/0008-certificate-changes.js";
import type { StoreSchema } from "../store/schema.js";

/** Every topic the migrations' triggers signal. */
export const STORE_TOPICS = [...SHARED_STATE_TOPICS, CERTIFICATES_TOPIC] as const;
export type StoreTopic = (typeof STORE_TOPICS)[number];

/**
 * Why a topic is reported: "changed", a signal of a change; "resync", the listener (re)connected
 * and changes signalled meanwhile were lost, so whatever is kept of the topic should be re-read
 * in full.
 */
export type StoreChangeCause = "changed" | "resync";

export interface StoreChangesOptions {
  /** What something in the store changed; the listener reloads what it keeps of it. */
  readonly onChange: (topic: StoreTopic, cause: StoreChangeCause) => void;
  readonly logger: Logger;
}

export interface StoreChanges {
  /**
   * Settles once changes committed from now on are signalled: PostgreSQL's first LISTEN is
   * established (or its first attempt failed: the reconnection's "resync" covers the gap), SQLite's
   * counters are read. Never rejects. Load from the store only after it, so that nothing written
   * between the load and the first signal waits for a periodic refresh.
   */
  readonly ready: Promise<void>;
  /** Stops listening or polling; idempotent. */
  stop(): Promise<void>;
}

/** First wait before reconnecting a lost listener; it doubles up to MAX_RECONNECT_MS. */
const MIN_RECONNECT_MS = 250;
const MAX_RECONNECT_MS = 10_000;
/** A listener connection is checked this often; an unanswered check counts as a lost connection. */
const LISTENER_CHECK_MS = 5_000;
const LISTENER_TIMEOUT_MS = 5_000;
export const DEFAULT_POLL_MS = 1_000;

const isTopic = (payload: string): payload is StoreTopic =>
  (STORE_TOPICS as readonly string[]).includes(payload);

/**
 * PostgreSQL: `LISTEN hopgate_store_changed` on a connection of its own (the pool's connections
 * come and go). The migration's triggers notify at commit, so another server's change reaches
 * `onChange` within a round trip. A lost connection (an error, a close, or a check unanswered
 * within LISTENER_TIMEOUT_MS: a network that died silently) is reopened with a doubling,
 * jittered backoff; after every (re)connection every topic is reported once, since notifications
 * sent meanwhile are lost. Nothing waits for this: the periodic refresh remains the safety net.
 */
export function listenForStoreChanges(dsn: string, options: StoreChangesOptions): StoreChanges {
  const { logger } = options;
  let stopped = false;
  let client: Client | undefined;
  let retryTimer: NodeJS.Timeout | undefined;
  let checkTimer: NodeJS.Timeout | undefined;
  let backoffMs = MIN_RECONNECT_MS;
  let lost = false;

  const drop = (reason: string) => {
    clearInterval(checkTimer);
    const old = client;
    client = undefined;
    old?.removeAllListeners("notification");
    old?.end().catch(() => {});
    if (stopped) return;
    if (!lost) logger.warn({ reason }, "store change listener lost; reconnecting");
    lost = true;
    const waitMs = backoffMs / 2 + Math.random() * (backoffMs / 2);
    backoffMs = Math.min(backoffMs * 2, MAX_RECONNECT_MS);
    clearTimeout(retryTimer);
    retryTimer = setTimeout(() => void connect(), waitMs).unref();
  };

  const connect = async () => {
    if (stopped) return;
    // Loaded only for PostgreSQL, as in postgres-pool.ts.
    const { default: pg } = await import("pg");
    const next = new pg.Client({
      connectionString: dsn,
      connectionTimeoutMillis: LISTENER_TIMEOUT_MS,
      query_timeout: LISTENER_TIMEOUT_MS,
      keepAlive: true,
    });
    let gone = false;
    const lose = (reason: string) => {
      if (gone) return;
      gone = true;
      if (client === next) drop(reason);
      else next.end().catch(() => {});
    };
    next.on("error", (error) => lose(error.message));
    next.on("end", () => lose("connection closed"));
    next.on("notification", (message) => {
      if (message.channel === STORE_CHANGED_CHANNEL && message.payload && isTopic(message.payload))
        options.onChange(message.payload, "changed");
    });
    try {
      await next.connect();
      await next.query(`listen ${STORE_CHANGED_CHANNEL}`);
    } catch (error) {
      gone = true;
      next.end().catch(() => {});
      client = next; // so that drop() schedules the retry
      return drop((error as Error).message);
    }
    if (stopped || gone) return void next.end().catch(() => {});
    client = next;
    backoffMs = MIN_RECONNECT_MS;
    if (lost) logger.info("store change listener reconnected");
    lost = false;
    checkTimer = setInterval(() => {
      next.query("select 1").catch((error: Error) => lose(error.message));
    }, LISTENER_CHECK_MS).unref();
    // Whatever changed while no one listened: reload everything once.
    for (const topic of STORE_TOPICS) options.onChange(topic, "resync");
  };

  const ready = connect();
  return {
    ready,
    async stop() {
      if (stopped) return;
      stopped = true;
      clearTimeout(retryTimer);
      clearInterval(checkTimer);
      const old = client;
      client = undefined;
      await old?.end().catch(() => {});
    },
  };
}

/**
 * SQLite has no NOTIFY: the migration's triggers bump a counter per topic in `store_versions`,
 * read every `pollMs` (one indexed read of a few rows). A counter that moved is reported; the
 * first read only sets the baseline. A failed read is logged once until one succeeds.
 */
export function pollStoreChanges(
  db: Kysely<StoreSchema>,
  options: StoreChangesOptions & { readonly pollMs?: number },
): StoreChanges {
  const versions = new Map<string, number>();
  let failing = false;
  let running = false;
  const poll = async () => {
    if (running) return;
    running = true;
    try {
      const rows = await db.selectFrom("store_versions").select(["topic", "version"]).execute();
      if (failing) options.logger.info("store change counter readable again");
      failing = false;
      for (const { topic, version } of rows) {
        const before = versions.get(topic);
        versions.set(topic, version);
        if (before !== undefined && before !== version && isTopic(topic)) options.onChange(topic, "changed");
      }
    } catch (error) {
      if (!failing)
        options.logger.warn({ err: (error as Error).message }, "could not read store change counter");
      failing = true;
    } finally {
      running = false;
    }
  };
  const timer = setInterval(() => void poll(), options.pollMs ?? DEFAULT_POLL_MS);
  timer.unref();
  return {
    ready: poll(),
    stop() {
      clearInterval(timer);
      return Promise.resolve();
    },
  };
}
