import { z } from "zod";
import { normalizeDomain } from "../lib/domain-name.js";
import { AUTO_DOMAIN } from "../lib/wildcard-domain.js";

/**
 * A domain name in configuration, normalized like registered domains (single labels allowed when
 * asked); with `allowAuto`, also `auto`: a label the server assigns under a wildcard domain.
 */
export function domainName(options: { allowSingleLabel?: boolean; allowAuto?: boolean } = {}) {
  return z.string().transform((value, ctx) => {
    if (options.allowAuto && value.trim().toLowerCase() === AUTO_DOMAIN) return AUTO_DOMAIN;
    if (options.allowAuto && value.includes("*")) {
      const message = "a client serves one label under a wildcard domain (demo.tunnel.example.com) or auto";
      ctx.addIssue({ code: "custom", message });
      return z.NEVER;
    }
    const result = normalizeDomain(value, options);
    if (!result.ok) {
      ctx.addIssue({ code: "custom", message: result.reason });
      return z.NEVER;
    }
    return result.domain;
  });
}
