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
  subdomainCertOrdersPerHour: setting({
    env: "HOP_SUBDOMAIN_CERT_ORDERS_PER_HOUR",
    flag: "--subdomain-cert-orders-per-hour",
    kind: "value",
    description:
      "ACME certificate orders for labels under wildcard domains per hour (HOP_SERVER_TLS=acme); a label over it is served the fallback certificate until the order is allowed; 0 = no limit",
    expected: "a whole number from 0 to 300",
    default: "10",
    schema: integer(0, 300),
  }),
  subdomainCertOrdersPerWeek: setting({
    env: "HOP_SUBDOMAIN_CERT_ORDERS_PER_WEEK",
    flag: "--subdomain-cert-orders-per-week",
    kind: "value",
    description:
      "ACME certificate orders for labels under wildcard domains per 7 days (Let's Encrypt issues 50 per registered domain per week); 0 = no limit",
    expected: "a whole number from 0 to 10000",
    default: "40",
    schema: integer(0, 10_000),
  }),
};
