/**
 * Readable renderings of admin API answers for `hopgate admin ...` (`--json` prints the raw body
 * instead). Each takes the parsed JSON body of a successful answer and returns lines of text.
 */
import { maskUrlSecrets } from "../lib/secret.js";

type Json = Record<string, unknown>;

interface DomainJson {
  readonly domain: string;
  readonly memo: string;
  readonly created_at: string;
  readonly updated_at: string;
}

/** One entry of a wildcard's `label_holders`: the server of the gateway holding that label. */
interface LabelHolderJson {
  hostname: string;
  server: { id: string; advertise_address: string | null };
}

interface SessionJson {
  readonly id: string;
  readonly domain: string;
  readonly remote_address: string;
  readonly connected_at: string;
  readonly state: string;
  readonly in_flight_streams: number;
  readonly services: ReadonlyArray<{ readonly name: string; readonly path_prefix: string }>;
}

export function issuedKeyText(body: Json, action: "registered" | "rotated"): string {
  const domain = String(body.domain);
  const key = String(body.client_api_key);
  const headline =
    action === "registered"
      ? `Registered ${domain}.`
      : `New client API key for ${domain}; the old key no longer works.`;
  return [
    headline,
    `Client API key: ${key}`,
    "It is shown only now: give it to the domain's client (HOP_CLIENT_API_KEY) and keep it secret.",
  ].join("\n");
}

export function domainStatusText(body: Json, domain: string): string {
  if (body.exists !== true) return `${domain} is not registered.`;
  const record = body as unknown as DomainJson;
  const lines = [
    `${record.domain} is registered.`,
    `  memo:    ${record.memo === "" ? "-" : record.memo}`,
    `  created: ${record.created_at}`,
    `  updated: ${record.updated_at}`,
  ];
  if (Array.isArray(body.labels)) {
    lines.push(`  labels:  ${body.labels.length === 0 ? "-" : body.labels.join(", ")}`);
  }
  if (Array.isArray(body.label_holders) && body.label_holders.length > 0) {
    lines.push("  label holders:");
    for (const hold of body.label_holders as LabelHolderJson[]) {
      const where = hold.server.advertise_address ? ` (${hold.server.advertise_address})` : "";
      lines.push(`    ${hold.hostname} on server ${hold.server.id}${where}`);
    }
  }
  if (Array.isArray(body.sessions)) {
    lines.push(`  live sessions: ${body.sessions.length}`);
    for (const session of body.sessions as SessionJson[]) lines.push(`    ${sessionLine(session)}`);
  }
  return lines.join("\n");
}

interface CertificateJson {
  readonly state: string;
  readonly not_after?: string;
  readonly reason?: string;
  readonly next_retry_at?: string;
}

/** The `certificate` of a domain's status (ACME only). */
export function certificateText(body: Json, domain: string): string {
  if (body.exists !== true) return `${domain} is not registered.`;
  const certificate = body.certificate as CertificateJson | undefined;
  if (!certificate) return `${domain} has no ACME certificate on this server.`;
  return [`Certificate of ${domain}:`, ...certificateLines(certificate)].join("\n");
}

/** A 202 of `POST /domains/{domain}/certificate/retry`. */
export function certificateRetryText(body: Json, domain: string): string {
  return [
    `Ordering the certificate of ${domain} now.`,
    ...certificateLines(body.certificate as CertificateJson),
    `Follow it with: hopgate admin domains certificate ${domain}`,
  ].join("\n");
}

function certificateLines(certificate: CertificateJson): string[] {
  return [
    `  state: ${certificate.state}`,
    ...(certificate.not_after ? [`  expires: ${certificate.not_after}`] : []),
    ...(certificate.reason ? [`  last failure: ${certificate.reason}`] : []),
    ...(certificate.next_retry_at ? [`  next retry: ${certificate.next_retry_at}`] : []),
  ];
}

export function domainListText(body: Json): string {
  const domains = (body.domains ?? []) as DomainJson[];
  if (domains.length === 0) return "No domains registered.";
  const rows = domains.map((d) => [d.domain, d.created_at, d.memo]);
  const lines = table(["DOMAIN", "CREATED", "MEMO"], rows);
  if (typeof body.next === "string") lines.push("", `More: --after ${body.next}`);
  return lines.join("\n");
}

export function sessionListText(body: Json): string {
  const sessions = (body.sessions ?? []) as SessionJson[];
  if (sessions.length === 0) return "No live sessions.";
  return sessions.map((session) => `${session.domain}  ${sessionLine(session)}`).join("\n");
}

function sessionLine(session: SessionJson): string {
  const services = session.services.map((s) => `${s.name}:${s.path_prefix}`).join(",") || "-";
  return `${session.id} from ${session.remote_address} since ${session.connected_at}, ${session.state}, ${session.in_flight_streams} in flight, services ${services}`;
}

function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((title, i) =>
    Math.max(title.length, ...rows.map((row) => (row[i] ?? "").length)),
  );
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

interface AccessJson {
  readonly basic_auth: ReadonlyArray<{ readonly username: string }>;
  readonly allow: readonly string[];
  readonly deny: readonly string[];
  readonly secret_header?: { readonly name: string };
  readonly rate_limit_per_second?: number;
  readonly forward_auth?: {
    readonly url: string;
    readonly copy_headers: readonly string[];
    readonly timeout_ms: number;
    readonly allow_ambiguous_paths: readonly string[];
  };
}

/** A domain's access policy as GET/PUT /domains/{domain}/access return it (no secrets in it). */
export function accessPolicyText(body: Json, domain: string): string {
  if (body.invalid === true)
    return `The stored access policy of ${domain} does not parse: nobody gets in until it is set again or cleared.`;
  const policy = body.access as AccessJson | null;
  if (!policy) return `${domain} has no access policy: every visitor gets in.`;
  const list = (items: readonly string[]) => (items.length === 0 ? "(none)" : items.join(", "));
  return [
    `Access policy of ${domain}:`,
    `  basic auth users: ${list(policy.basic_auth.map((user) => user.username))}`,
    `  allow: ${list(policy.allow)}`,
    `  deny: ${list(policy.deny)}`,
    `  secret header: ${policy.secret_header?.name ?? "(none)"}`,
    `  rate limit: ${policy.rate_limit_per_second === undefined ? "(none)" : `${policy.rate_limit_per_second} requests/s`}`,
    ...forwardAuthLines(policy.forward_auth),
  ].join("\n");
}

function forwardAuthLines(forward: AccessJson["forward_auth"]): string[] {
  if (!forward) return ["  forward auth: (none)"];
  const forms = forward.allow_ambiguous_paths;
  return [
    // Masked again: a server of an earlier release answers with the URL as stored.
    `  forward auth: ${maskUrlSecrets(forward.url)} (timeout ${forward.timeout_ms} ms)`,
    `    copied headers: ${forward.copy_headers.length === 0 ? "(none)" : forward.copy_headers.join(", ")}`,
    `    ambiguous paths let through: ${forms.length === 0 ? "(none: refused with 400)" : forms.join(", ")}`,
  ];
}
