/**
 * One request to Loki's push API (`POST /loki/api/v1/push`, JSON body
 * `{"streams":[{"stream":{labels},"values":[["<unix ns>","<line>"],...]}]}`).
 */

export interface LokiTarget {
  /** Full push URL; a bare origin (`http://loki:3100`) gets `/loki/api/v1/push`. */
  readonly endpoint: string;
  /** Sent as `X-Scope-OrgID` for multi-tenant Loki. */
  readonly tenantId?: string;
  readonly basicAuth?: { readonly username: string; readonly password: string };
}

export interface LokiEntry {
  readonly timeMs: number;
  readonly level: string;
  readonly line: string;
}

/** A push Loki refused or that never got an answer; `retriable` when sending it again may work. */
export class LokiPushError extends Error {
  override readonly name = "LokiPushError";

  constructor(
    message: string,
    readonly retriable: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface LokiPusher {
  /** Resolves when Loki accepted the entries; rejects with LokiPushError otherwise. */
  push(entries: readonly LokiEntry[], signal: AbortSignal): Promise<void>;
}

export function createLokiPusher(target: LokiTarget, labels: Readonly<Record<string, string>>): LokiPusher {
  const url = pushUrl(target.endpoint);
  // fetch refuses URLs with credentials: `http://user:pass@loki/...` becomes basic auth instead.
  const basicAuth =
    target.basicAuth ??
    (url.username
      ? { username: decodeURIComponent(url.username), password: decodeURIComponent(url.password) }
      : undefined);
  url.username = "";
  url.password = "";
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (target.tenantId) headers["x-scope-orgid"] = target.tenantId;
  if (basicAuth) {
    const credentials = `${basicAuth.username}:${basicAuth.password}`;
    headers.authorization = `Basic ${Buffer.from(credentials).toString("base64")}`;
  }
  return {
    async push(entries, signal) {
      let response: Response;
      try {
        response = await fetch(url, { method: "POST", headers, body: body(entries, labels), signal });
      } catch (error) {
        // Refused connection, DNS failure, reset or timeout: Loki may be back next time.
        const reason = error instanceof Error ? (error.cause instanceof Error ? error.cause : error) : error;
        throw new LokiPushError(`push to ${url.origin} failed: ${String(reason)}`, true, { cause: error });
      }
      const text = (await response.text()).slice(0, 200).trim();
      if (response.ok) return;
      // RFC 9110 §15.5: other 4xx mean this batch (or our credentials) is wrong; resending cannot help.
      const retriable = response.status === 429 || response.status >= 500;
      throw new LokiPushError(`Loki answered ${response.status}: ${text || response.statusText}`, retriable);
    },
  };
}

function pushUrl(endpoint: string): URL {
  const url = new URL(endpoint);
  if (url.pathname === "/" || url.pathname === "") url.pathname = "/loki/api/v1/push";
  return url;
}

/** Groups entries into one stream per level; Loki wants nanosecond timestamps as decimal strings. */
function body(entries: readonly LokiEntry[], labels: Readonly<Record<string, string>>): string {
  const byLevel = new Map<string, Array<[string, string]>>();
  for (const entry of entries) {
    let values = byLevel.get(entry.level);
    if (!values) byLevel.set(entry.level, (values = []));
    values.push([`${Math.trunc(entry.timeMs)}000000`, entry.line]);
  }
  const streams = [...byLevel].map(([level, values]) => ({ stream: { ...labels, level }, values }));
  return JSON.stringify({ streams });
}
