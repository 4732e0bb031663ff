import { z } from "zod";
import { normalizeDomain } from "../lib/domain-name.js";

/** A domain name in configuration, normalized like registered domains (single labels allowed when asked). */
export function domainName(options: { allowSingleLabel?: boolean } = {}) {
  return z.string().transform((value, ctx) => {
    const result = normalizeDomain(value, options);
    if (!result.ok) {
      ctx.addIssue({ code: "custom", message: result.reason });
      return z.NEVER;
    }
    return result.domain;
  });
}
