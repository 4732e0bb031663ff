import { RequestRateLimiter } from "../limits/request-rate-limiter.js";
import type { StoredAccessPolicy } from "./stored-policy.js";
import type { ForwardAuthSpec } from "./forward-auth.js";
import { compileIpRules, type IpRules } from "./ip-rules.js";
import { VerifiedCredentials } from "./verified-credentials.js";

/** A stored policy made ready for the hot path; one per domain, rebuilt when the policy changes. */
export interface CompiledPolicy {
  readonly deny: IpRules;
  readonly allow: IpRules;
  /** Lowercased field name and the SHA-256 digest of the value. */
  readonly secretHeader: { readonly name: string; readonly digest: Buffer } | undefined;
  /** username → scrypt hash (PHC string). */
  readonly users: ReadonlyMap<string, string>;
  /** Credentials that passed scrypt lately, so that a browser's every request does not hash again. */
  readonly verified: VerifiedCredentials;
  /** The domain's token bucket (one key), when the policy sets a rate. */
  readonly rate: RequestRateLimiter | undefined;
  readonly forwardAuth: ForwardAuthSpec | undefined;
}

export function compilePolicy(policy: StoredAccessPolicy, now: () => number = Date.now): CompiledPolicy {
  const rate = policy.rate_limit_per_second;
  return {
    deny: compileIpRules(policy.deny),
    allow: compileIpRules(policy.allow),
    secretHeader: policy.secret_header && {
      name: policy.secret_header.name.toLowerCase(),
      digest: Buffer.from(policy.secret_header.sha256, "hex"),
    },
    users: new Map(policy.basic_auth.map((user) => [user.username, user.hash])),
    verified: new VerifiedCredentials({ now }),
    rate:
      rate === undefined
        ? undefined
        : new RequestRateLimiter({ ratePerSecond: rate, burst: Math.max(1, rate), maxKeys: 1, now }),
    forwardAuth: policy.forward_auth && {
      url: policy.forward_auth.url,
      copyHeaders: policy.forward_auth.copy_headers.map((name) => name.toLowerCase()),
      timeoutMs: policy.forward_auth.timeout_ms,
      allowAmbiguousPaths: new Set(policy.forward_auth.allow_ambiguous_paths),
    },
  };
}
