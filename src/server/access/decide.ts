import { createHash, timingSafeEqual } from "node:crypto";
import type { HopGateErrorCode } from "../../lib/hopgate-error.js";
import { isAmbiguousPath } from "../../protocol/ambiguous-path.js";
import type { AuthLimiter } from "../limits/auth-failure-limiter.js";
import { parseBasicCredentials } from "./basic-credentials.js";
import type { CompiledPolicy } from "./compiled-policy.js";
import type { ForwardAuthOutcome, ForwardAuthRequest, ForwardAuthSpec } from "./forward-auth.js";

/** Why a visitor was refused: the `reason` label of `hopgate_access_denied_total`. */
export const ACCESS_DENIAL_REASONS = [
  "ip_denied",
  "ip_not_allowed",
  "secret_header",
  "rate",
  "basic_auth",
  "auth_blocked",
  "busy",
  "forward_auth",
  "forward_auth_failed",
  "ambiguous_path",
] as const;
export type AccessDenialReason = (typeof ACCESS_DENIAL_REASONS)[number];

/** Header changes for the backend request of an admitted visitor (forward auth's copied headers). */
export interface UpstreamHeaders {
  /** Lowercased names whose visitor-sent lines are dropped. */
  readonly strip: readonly string[];
  readonly add: ReadonlyArray<readonly [string, string]>;
}

/** An answer the visitor gets as it is instead of the gateway's error page (forward auth's). */
export interface Reply {
  readonly status: number;
  readonly headers: Record<string, string | string[]>;
  readonly body: Buffer;
}

export type AccessDecision =
  | { readonly ok: true; readonly upstream?: UpstreamHeaders }
  | {
      readonly ok: false;
      readonly reason: AccessDenialReason;
      /** The proxy's error code; its page and status (error-response.ts). */
      readonly code: HopGateErrorCode;
      readonly status: number;
      readonly headers: Record<string, string>;
      /** Sent instead of the error page of `code`. */
      readonly reply?: Reply;
    };

/** What the policy looks at: the real peer address and the request's own header lines. */
export interface Visitor {
  /** The registered domain the request is routed to: the basic-auth realm. */
  readonly domain: string;
  /**
   * The TCP peer, or behind a trusted front proxy the visitor it names (visitor-address.ts),
   * never a header the visitor wrote itself; undefined when the socket no longer knows it.
   */
  readonly remoteAddress: string | undefined;
  /** Every value of a header field as received, one per field line (name lowercased). */
  readonly headerValues: (name: string) => readonly string[];
  /** What forward auth tells the auth service; needed only when the policy has forward auth. */
  readonly forwardAuthRequest?: () => ForwardAuthRequest;
}

/** The stateful helpers of basic auth. */
export interface PasswordCheck {
  /** Failed attempts per address; a blocked address is refused before any hashing. */
  readonly failures: AuthLimiter;
  /** Runs scrypt through the bounded queue; undefined when the queue is full. */
  readonly verify: (password: string, storedHash: string) => Promise<boolean> | undefined;
  /** A hash to check unknown usernames against, so that they cost what known ones do. */
  readonly decoyHash: string;
  /** Asks a forward-auth service (forward-auth.ts). */
  readonly forwardAuth?: (spec: ForwardAuthSpec, request: ForwardAuthRequest) => Promise<ForwardAuthOutcome>;
}

const ALLOW: AccessDecision = { ok: true };

/**
 * The access decision for one request (docs/access.md): deny list, allow list, secret header,
 * the domain's rate, basic auth, then forward auth; every rule the policy sets must pass, the
 * first that does not decides the answer. The method and Upgrade of the request play no part,
 * nor does the path but for forward auth's ambiguous-path refusal (askService), so no path
 * spelling, HEAD, OPTIONS (CORS preflight) or WebSocket handshake is treated differently.
 * Synchronous unless a password has to be hashed or an auth service asked.
 */
export function decide(
  policy: CompiledPolicy,
  visitor: Visitor,
  check: PasswordCheck,
): AccessDecision | Promise<AccessDecision> {
  const address = visitor.remoteAddress;
  const knownAddress = address !== undefined && address !== "";
  // Fail closed: an address no rule can be tested against passes no IP rule.
  if (policy.deny.size > 0 && (!knownAddress || policy.deny.matches(address)))
    return refuse("ip_denied", "forbidden", 403);
  if (policy.allow.size > 0 && !policy.allow.matches(address))
    return refuse("ip_not_allowed", "forbidden", 403);
  if (policy.secretHeader && !secretMatches(policy.secretHeader, visitor))
    return refuse("secret_header", "forbidden", 403);
  if (policy.rate) {
    const taken = policy.rate.take("domain");
    if (!taken.ok)
      return refuse("rate", "rate_limited", 429, { "retry-after": String(taken.retryAfterSeconds) });
  }
  const password =
    policy.users.size === 0 ? ALLOW : checkPassword(policy, visitor, check, address ?? "unknown");
  const forward = policy.forwardAuth;
  if (!forward) return password;
  const next = (decision: AccessDecision) => (decision.ok ? askService(forward, visitor, check) : decision);
  return password instanceof Promise ? password.then(next) : next(password);
}

/**
 * Forward auth: the service's 2xx admits (with its copied headers), any other answer is the
 * visitor's. The service may decide by path, so it is never asked about a path the backend could
 * read as another (ambiguous-path.ts: `/admin%2Fsecret` told, `/admin/secret` served): 400,
 * but for the forms the operator allowed; the service is then told the path the backend gets.
 */
async function askService(
  spec: ForwardAuthSpec,
  visitor: Visitor,
  check: PasswordCheck,
): Promise<AccessDecision> {
  const request = visitor.forwardAuthRequest?.();
  if (request && isAmbiguousPath(request.uri.split("?", 1)[0]!, spec.allowAmbiguousPaths))
    return refuse("ambiguous_path", "invalid_input", 400);
  let outcome: ForwardAuthOutcome = { t: "failed", reason: "forward auth is not available here" };
  try {
    if (request && check.forwardAuth) outcome = await check.forwardAuth(spec, request);
  } catch (error) {
    // A subrequest that could not even be made (the proxy relies on this never rejecting).
    outcome = { t: "failed", reason: (error as Error).message };
  }
  switch (outcome.t) {
    case "allow":
      // The visitor's own lines of these names never reach the backend, copied or not.
      return { ok: true, upstream: { strip: spec.copyHeaders, add: outcome.copied } };
    case "deny":
      return {
        ok: false,
        reason: "forward_auth",
        code: "forbidden",
        status: outcome.status,
        headers: {},
        reply: { status: outcome.status, headers: outcome.headers, body: outcome.body },
      };
    case "failed":
      return refuse("forward_auth_failed", "unavailable", 503, { "retry-after": "1" });
  }
}

function checkPassword(
  policy: CompiledPolicy,
  visitor: Visitor,
  check: PasswordCheck,
  address: string,
): AccessDecision | Promise<AccessDecision> {
  const blockedMs = check.failures.retryAfterMs(address);
  if (blockedMs > 0)
    return refuse("auth_blocked", "rate_limited", 429, {
      "retry-after": String(Math.ceil(blockedMs / 1000)),
    });
  const challenge = { "www-authenticate": `Basic realm="${visitor.domain}", charset="UTF-8"` };
  const lines = visitor.headerValues("authorization");
  // No credentials yet (a browser's first request): a challenge, not a failed attempt.
  if (lines.length === 0) return refuse("basic_auth", "unauthenticated", 401, challenge);
  // More than one Authorization line: which one the backend believes is not ours to guess.
  const credentials = lines.length === 1 ? parseBasicCredentials(lines[0]) : undefined;
  const failed = (): AccessDecision => {
    check.failures.recordFailure(address);
    return refuse("basic_auth", "unauthenticated", 401, challenge);
  };
  if (!credentials) return failed();
  const storedHash = policy.users.get(credentials.username);
  if (storedHash !== undefined && policy.verified.has(storedHash, credentials.password)) return ALLOW;
  const verifying = check.verify(credentials.password, storedHash ?? check.decoyHash);
  if (!verifying) return refuse("busy", "unavailable", 503, { "retry-after": "1" });
  return verifying.then(
    (matches) => {
      if (!matches || storedHash === undefined) return failed();
      policy.verified.add(storedHash, credentials.password);
      return ALLOW;
    },
    () => refuse("busy", "unavailable", 503, { "retry-after": "1" }),
  );
}

function secretMatches(
  secret: { readonly name: string; readonly digest: Buffer },
  visitor: Visitor,
): boolean {
  const values = visitor.headerValues(secret.name);
  if (values.length !== 1) return false;
  const given = createHash("sha256")
    .update(values[0] ?? "", "utf8")
    .digest();
  return timingSafeEqual(given, secret.digest);
}

function refuse(
  reason: AccessDenialReason,
  code: HopGateErrorCode,
  status: number,
  headers: Record<string, string> = {},
): AccessDecision {
  return { ok: false, reason, code, status, headers };
}
