import type { Logger } from "../../lib/logger.js";
import { maskUrlSecrets, URL_MASK } from "../../lib/secret.js";
import type { ForwardAuthOutcome, ForwardAuthRequest, ForwardAuthSpec } from "./forward-auth.js";

export type AskForwardAuth = (
  spec: ForwardAuthSpec,
  request: ForwardAuthRequest,
) => Promise<ForwardAuthOutcome>;

/** At most one `forward auth failed` line per auth service URL within this time. */
export const FORWARD_AUTH_FAILURE_LOG_INTERVAL_MS = 10_000;
/** Auth service URLs remembered for the interval; past this many, the memory starts afresh. */
const MAX_REMEMBERED_URLS = 1000;

/**
 * `ask`, with the subrequests that got no usable answer (unreachable, timeout, body too large:
 * the visitor's 503) logged at warn, so that an operator sees why: per auth service URL at most
 * one line every FORWARD_AUTH_FAILURE_LOG_INTERVAL_MS, counting those not logged in between (a
 * flood of visitors to a dead service makes one line per interval, not one per request). The
 * URL is shown as the admin API shows it (maskUrlSecrets: `?token=***`), and any of its secrets
 * the reason repeats are masked too. A subrequest that throws is a failure as well.
 */
export function loggingForwardAuthFailures(
  ask: AskForwardAuth,
  logger: Logger,
  now: () => number,
): AskForwardAuth {
  const lastLine = new Map<string, { atMs: number; notLogged: number }>();
  const failed = (spec: ForwardAuthSpec, request: ForwardAuthRequest, reason: string) => {
    const atMs = now();
    const last = lastLine.get(spec.url);
    if (last && atMs - last.atMs < FORWARD_AUTH_FAILURE_LOG_INTERVAL_MS) return void (last.notLogged += 1);
    if (lastLine.size >= MAX_REMEMBERED_URLS) lastLine.clear();
    lastLine.set(spec.url, { atMs, notLogged: 0 });
    logger.warn(
      {
        domain: request.host,
        forward_auth: maskUrlSecrets(spec.url),
        reason: withoutUrlSecrets(reason, spec.url),
        failures_not_logged: last?.notLogged ?? 0,
      },
      "forward auth failed",
    );
  };
  return async (spec, request) => {
    let outcome: ForwardAuthOutcome;
    try {
      outcome = await ask(spec, request);
    } catch (error) {
      outcome = { t: "failed", reason: (error as Error).message };
    }
    if (outcome.t === "failed") failed(spec, request, outcome.reason);
    return outcome;
  };
}

/** `text` with the URL, its user info and its query values (of 4 characters or more) masked. */
function withoutUrlSecrets(text: string, url: string): string {
  let shown = text.split(url).join(maskUrlSecrets(url));
  const parsed = new URL(url);
  const secrets = [parsed.username, parsed.password, ...[...parsed.searchParams.values()]];
  for (const secret of secrets) {
    if (secret.length < 4) continue;
    shown = shown.split(secret).join(URL_MASK);
    const encoded = encodeURIComponent(secret);
    if (encoded !== secret) shown = shown.split(encoded).join(URL_MASK);
  }
  return shown;
}
