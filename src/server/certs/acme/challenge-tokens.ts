import type { ChallengeResponder } from "../../http/http-listener.js";

/**
 * Pending HTTP-01 challenges of this process, by token (RFC 8555 §8.3). The ACME issuer adds a
 * token before asking the CA to validate and removes it afterwards; the HTTP listener answers from
 * it. Bounded by the number of orders in flight.
 */
export interface ChallengeTokens extends ChallengeResponder {
  set(token: string, keyAuthorization: string): void;
  delete(token: string): void;
}

export function createChallengeTokens(): ChallengeTokens {
  const tokens = new Map<string, string>();
  return {
    set: (token, keyAuthorization) => void tokens.set(token, keyAuthorization),
    delete: (token) => void tokens.delete(token),
    keyAuthorizationFor: (token) => tokens.get(token),
  };
}
