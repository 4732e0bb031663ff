import type { Logger } from "../../lib/logger.js";
import { wildcardOf } from "../../lib/wildcard-domain.js";
import type { AuthLimiter } from "../limits/auth-failure-limiter.js";
import type { VisitorAddress } from "../edge/visitor-address.js";
import type { VisitorRequest } from "../proxy/visitor.js";
import type { PolicyEntry, StoredAccessPolicy } from "./stored-policy.js";
import { compilePolicy, type CompiledPolicy } from "./compiled-policy.js";
import { decide, type AccessDecision, type PasswordCheck } from "./decide.js";
import { askForwardAuth } from "./forward-auth.js";
import { loggingForwardAuthFailures } from "./forward-auth-failures.js";
import { HashWorkQueue } from "./hash-work-queue.js";
import { decoyPasswordHash, verifyPassword } from "./password-hash.js";

/** What the proxy asks, for every request to a registered domain, before it touches a tunnel. */
/** The decision for a domain without a policy: shared, never mutated. */
const ALLOW: AccessDecision = Object.freeze({ ok: true });

export interface AccessGate {
  /** `visitor`: who sent the request (visitor-address.ts), never a header the visitor wrote itself. */
  check(
    domain: string,
    req: VisitorRequest,
    visitor: VisitorAddress,
  ): AccessDecision | Promise<AccessDecision>;
}

export interface AccessPoliciesOptions {
  /** Failed basic-auth attempts per visitor address. */
  readonly failures: AuthLimiter;
  /** scrypt hashes running at once; more wait in a queue of `maxQueuedHashes`, then 503. */
  readonly maxConcurrentHashes?: number;
  readonly maxQueuedHashes?: number;
  readonly now?: () => number;
  /** Where forward auth's failures are reported (forward-auth-failures.ts); unlogged without one. */
  readonly logger?: Logger;
}

const DENY_EVERYONE: StoredAccessPolicy = { basic_auth: [], allow: [], deny: ["0.0.0.0/0", "::/0"] };

/**
 * The access policies of all domains, in memory so that a request never waits for the store:
 * loaded at start, set at once by this server's own admin changes (in effect from the next
 * request on) and reloaded periodically for changes made through another server. A reload keeps
 * the compiled form (rate bucket, verified credentials) of every policy that did not change.
 */
export class AccessPolicies implements AccessGate {
  readonly #policies = new Map<string, { readonly text: string; readonly compiled: CompiledPolicy }>();
  readonly #now: () => number;
  readonly #check: PasswordCheck;
  #timer: NodeJS.Timeout | undefined;
  /** Counts `set` calls, so that a reload read before a change cannot undo it. */
  #changes = 0;

  constructor(options: AccessPoliciesOptions) {
    this.#now = options.now ?? Date.now;
    const queue = new HashWorkQueue({
      maxConcurrent: options.maxConcurrentHashes ?? 2,
      maxQueued: options.maxQueuedHashes ?? 16,
    });
    this.#check = {
      failures: options.failures,
      decoyHash: decoyPasswordHash(),
      verify: (password, storedHash) => queue.run(() => verifyPassword(password, storedHash)),
      forwardAuth: options.logger
        ? loggingForwardAuthFailures(askForwardAuth, options.logger, this.#now)
        : askForwardAuth,
    };
  }

  get size(): number {
    return this.#policies.size;
  }

  check(
    domain: string,
    req: VisitorRequest,
    visitor: VisitorAddress,
  ): AccessDecision | Promise<AccessDecision> {
    // No policy anywhere (the common case): no wildcard name is built for the lookup.
    const policy = this.#policies.size === 0 ? undefined : this.#policyOf(domain);
    if (!policy) return ALLOW;
    return decide(
      policy.compiled,
      {
        domain,
        remoteAddress: visitor.address,
        headerValues: (name) => headerValues(req, name),
        forwardAuthRequest: () => ({
          method: req.method ?? "GET",
          uri: req.url ?? "/",
          host: domain,
          proto: "encrypted" in req.socket && req.socket.encrypted === true ? "https" : "http",
          forwardedFor: visitor.chain,
          rawHeaders: req.rawHeaders,
        }),
      },
      this.#check,
    );
  }

  /**
   * The policy in force for `domain` (a served host, normalized): its own when it has one, else
   * that of the wildcard one label up (`*.tunnel.example.com` for `demo.tunnel.example.com`). A
   * label under a wildcard has no policy of its own, so its wildcard's guards it; a domain
   * registered on its own under a wildcard's base takes the wildcard's until it is given its own
   * (fail closed). Looked up per request: a change reaches held labels without a reconnect.
   */
  #policyOf(domain: string): { readonly compiled: CompiledPolicy } | undefined {
    const own = this.#policies.get(domain);
    if (own) return own;
    const wildcard = wildcardOf(domain);
    return wildcard && this.#policies.get(wildcard.pattern);
  }

  /** Sets (or with undefined, clears) the policy of `domain`. */
  set(domain: string, entry: PolicyEntry | undefined): void {
    this.#changes += 1;
    this.#apply(domain, entry);
  }

  #apply(domain: string, entry: PolicyEntry | undefined): void {
    if (entry === undefined) return void this.#policies.delete(domain);
    const text = JSON.stringify(entry);
    if (this.#policies.get(domain)?.text === text) return;
    const compiled = compilePolicy(entry === "invalid" ? DENY_EVERYONE : entry, this.#now);
    this.#policies.set(domain, { text, compiled });
  }

  replaceAll(entries: ReadonlyMap<string, PolicyEntry>): void {
    for (const domain of this.#policies.keys()) if (!entries.has(domain)) this.#policies.delete(domain);
    for (const [domain, entry] of entries) this.#apply(domain, entry);
  }

  /**
   * Reloads every `intervalMs`; a failed reload keeps the policies in force and is logged. A
   * reload during which this server changed a policy is dropped: it may have read the store
   * before the change committed, and the next one reads after it.
   */
  startRefreshing(
    load: () => Promise<ReadonlyMap<string, PolicyEntry>>,
    intervalMs: number,
    logger: Logger,
  ): void {
    this.#timer = setInterval(() => void this.refresh(load, logger), intervalMs).unref();
  }

  /** One reload (see startRefreshing). */
  async refresh(load: () => Promise<ReadonlyMap<string, PolicyEntry>>, logger: Logger): Promise<void> {
    const changesBefore = this.#changes;
    try {
      const entries = await load();
      if (this.#changes === changesBefore) this.replaceAll(entries);
    } catch (error) {
      logger.warn({ err: (error as Error).message }, "could not refresh access policies");
    }
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}

/**
 * Every value of `name` as the visitor sent it, one per field line, from the raw header list:
 * node's `headers` object keeps only the first of some repeated fields (Authorization among
 * them) while the tunnel forwards all of them, so the policy must see all of them too.
 */
function headerValues(req: VisitorRequest, name: string): string[] {
  const values: string[] = [];
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const field = raw[i]!;
    if (field.length === name.length && field.toLowerCase() === name) values.push(raw[i + 1]!);
  }
  return values;
}
