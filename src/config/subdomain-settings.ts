import { integer } from "./parsers.js";
import { setting } from "./setting.js";

/**
 * Self-service subdomains under wildcard base domains (docs/access.md): how long a released
 * label waits for its client, and the limits that keep on-demand certificates inside the CA's
 * rate limits (docs/certificates.md).
 */
export const subdomainSettings = {
  subdomainGraceSeconds: setting({
    env: "HOP_SUBDOMAIN_GRACE_SECONDS",
    flag: "--subdomain-grace-seconds",
    kind: "value",
    description:
      "How long a label under a wildcard domain stays reserved for its client after its last tunnel closed (reconnects get it back); 0 = freed at once",
    expected: "a whole number of seconds from 0 to 86400",
    default: "60",
    schema: integer(0, 86_400),
  }),
  subdomainMaxLabels: setting({
    env: "HOP_SUBDOMAIN_MAX_LABELS",
    flag: "--subdomain-max-labels",
    kind: "value",
    description:
      "Labels one wildcard domain may hold at once (more tunnels asking for new labels are refused); 0 = no limit",
    expected: "a whole number from 0 to 100000",
    default: "40",
    schema: integer(0, 100_000),
  }),
};
