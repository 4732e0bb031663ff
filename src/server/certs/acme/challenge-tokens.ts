import type { Logger } from "../../../lib/logger.js";
import { createFreshRead } from "../../../lib/fresh-read.js";
import type { ChallengeResponder } from "../../http/http-listener.js";

/**
 * Pending HTTP-01 challenges (RFC 8555 §8.3), by token. The ACME issuer adds a token before it
 * asks the CA to validate (the promise settles once the token is answerable by every server that
 * shares the store) and removes it afterwards; the HTTP listener answers from it.
 */
export interface ChallengeTokens extends ChallengeResponder {
  set(token: string, keyAuthorization: string): Promise<void>;
  delete(token: string): Promise<void>;
}

/** Where tokens are shared between the servers of a gateway (kysely-challenge-store.ts). */
export interface SharedChallengeStore {
  put(token: string, keyAuthorization: string, expiresAtMs: number): Promise<void>;
  remove(token: string): Promise<void>;
  /** The unexpired tokens, at most a bounded number of them. */
  pending(nowMs: number): Promise<ReadonlyMap<string, string>>;
}

export interface ChallengeTokenOptions {
  /** Absent: this process's tokens only (one server). */
  readonly shared?: SharedChallengeStore;
  /** Lifetime of a shared row, bounding one left by a crashed server. Default 1 h. */
  readonly ttlMs?: number;
  /** Longest rate of store reads for tokens this process does not hold. Default 250 ms. */
  readonly readIntervalMs?: number;
  readonly logger?: Logger;
}

/**
 * RFC 8555 §8.3 asks for at least 128 bits of entropy in base64url (22 characters or more); CAs
 * send 43. Anything else is never looked up in the store.
 */
const SHAREABLE_TOKEN = /^[A-Za-z0-9_-]{22,128}$/;

/**
 * Tokens held in memory and, with `shared`, in the store. A lookup answers from memory first; a
 * miss for a well-formed token waits for a read of the whole pending table that started after the
 * request came in (createFreshRead): every miss of that moment shares one query, and queries run
 * at most every `readIntervalMs`, so visitors probing random tokens cannot multiply store reads,
 * and cannot crowd out the CA's own request either (it is answered by the next read).
 */
export function createChallengeTokens(options: ChallengeTokenOptions = {}): ChallengeTokens {
  const local = new Map<string, string>();
  const { shared } = options;
  const ttlMs = options.ttlMs ?? 60 * 60 * 1000;
  const pending = shared
    ? createFreshRead(() => shared.pending(Date.now()), options.readIntervalMs ?? 250)
    : undefined;
  return {
    async set(token, keyAuthorization) {
      local.set(token, keyAuthorization);
      await shared?.put(token, keyAuthorization, Date.now() + ttlMs);
    },
    async delete(token) {
      local.delete(token);
      await shared?.remove(token);
    },
    async keyAuthorizationFor(token) {
      const held = local.get(token);
      if (held !== undefined || !pending || !SHAREABLE_TOKEN.test(token)) return held;
      const answer = (await pending.get()).get(token);
      if (answer !== undefined) options.logger?.debug({ token }, "challenge answered from the store");
      return answer;
    },
  };
}
